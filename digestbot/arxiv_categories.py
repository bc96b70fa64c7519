"""The arXiv category taxonomy, so a config typo (``cs.Cl``, ``computer-science``) is caught at load time.

arXiv answers a query for an unknown category with an empty list, not an error: without this
check a typo means a bot that silently never posts. The list is arXiv's published taxonomy
(https://arxiv.org/category_taxonomy); archives without sub-categories (``hep-th``) are categories
themselves. A category added by arXiv later needs one line here.
"""

from __future__ import annotations

import difflib

_GROUPS: dict[str, str] = {
    "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA NE NI OH OS PF PL"
    " RO SC SD SE SI SY",
    "econ": "EM GN TH",
    "eess": "AS IV SP SY",
    "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA RT SG SP ST",
    "astro-ph": "CO EP GA HE IM SR",
    "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    "nlin": "AO CD CG PS SI",
    "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph flu-dyn"
    " gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "stat": "AP CO ME ML OT TH",
}
_ARCHIVES_WITHOUT_SUBJECTS = (
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nucl-ex",
    "nucl-th",
    "quant-ph",
)

CATEGORIES: frozenset[str] = frozenset(
    [f"{group}.{sub}" for group, subs in _GROUPS.items() for sub in subs.split()] + list(_ARCHIVES_WITHOUT_SUBJECTS)
)
"""Every current arXiv category, spelled as arXiv does (case matters: ``cs.CL``, ``cond-mat.soft``)."""

_BY_LOWER = {c.lower(): c for c in CATEGORIES}

# Words people write for a field instead of its archive name.
_FIELD_WORDS = {
    "computer-science": "cs",
    "computerscience": "cs",
    "computer science": "cs",
    "computing": "cs",
    "mathematics": "math",
    "maths": "math",
    "statistics": "stat",
    "economics": "econ",
    "physics": "physics",
    "quantitative-biology": "q-bio",
    "quantitative-finance": "q-fin",
    "astrophysics": "astro-ph",
}


def suggest_category(text: str) -> list[str]:
    """Return up to three real categories someone typing ``text`` probably meant (empty if none is close)."""
    low = text.strip().lower()
    if low in _BY_LOWER:  # only the case was wrong: cs.Cl -> cs.CL
        return [_BY_LOWER[low]]
    group = _FIELD_WORDS.get(low, low)
    if group in _GROUPS:  # a whole field was written: show a few of its categories
        examples = {"cs": ("cs.CL", "cs.LG", "cs.CV"), "stat": ("stat.ML",), "math": ("math.OC", "math.ST")}
        return list(examples.get(group, sorted(c for c in CATEGORIES if c.startswith(group + "."))[:3]))
    close = difflib.get_close_matches(low, list(_BY_LOWER), n=3, cutoff=0.6)
    return [_BY_LOWER[c] for c in close]
