"""``digestbot subscriptions``: the shell arguments mean what the same text means in chat."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import run

WHO = ("--platform", "console", "--user", "carol")


def test_one_argument_is_a_topic_expression_several_are_words() -> None:
    from digestbot.cli import topic_text

    assert topic_text(["diffusion -survey"]) == "diffusion -survey"
    assert topic_text(['"language model" -survey']) == '"language model" -survey'
    assert topic_text(["language model", "agents"]) == '"language model" agents'
    assert topic_text(["diffusion", "-survey"]) == "diffusion -survey"


def test_quoted_exclusion_separator_and_never_matching_topics(tmp_path: Path) -> None:
    added = run(tmp_path, "subscriptions", "add", *WHO, "diffusion -survey")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("Subscribed to diffusion -survey:")  # not the phrase "diffusion -survey"
    again = run(tmp_path, "subscriptions", "add", *WHO, "--", "-survey", "diffusion")
    assert again.returncode == 0 and again.stdout.startswith("You already follow"), again.stdout + again.stderr
    assert run(tmp_path, "subscriptions", "add", *WHO, "quantization").returncode == 0
    removed = run(tmp_path, "subscriptions", "remove", *WHO, "--", "quantization")
    assert removed.returncode == 0 and "quantization --" not in removed.stdout, removed.stdout
    listed = run(tmp_path, "subscriptions", "list", *WHO).stdout
    assert "quantization" not in listed and "diffusion -survey" in listed and '"' not in listed
    vision = run(tmp_path, "subscriptions", "add", "robots", "-vision", *WHO)  # not -v "ision"
    assert vision.returncode == 0 and vision.stdout.startswith("Subscribed to robots -vision"), vision.stderr


@pytest.mark.parametrize(
    "topic", ["diffusion -diffusion", '"diffusion model" -diffusion', '"large language model" -"language model"']
)
def test_a_topic_excluding_what_it_requires_is_refused(tmp_path: Path, topic: str) -> None:
    result = run(tmp_path, "subscriptions", "add", *WHO, topic)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stdout + result.stderr
    assert "never match" in result.stderr
