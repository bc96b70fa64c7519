"""Run the Hugging Face and model-server fakes until interrupted, for trying the README offline.

``python -m tests.fakes.serve > fakes.env &`` then ``. ./fakes.env``: the first lines it prints
are shell ``export`` lines (``HF_URL``, ``MODEL_URL``, ``SUMMARIES_API_KEY``) that the README's
summaries walkthrough config reads. The Hugging Face fake serves the test fixture's day
(2024-10-11, 7 papers); the model fake answers like a capable server (the sample digest's own
Korean parts where it has them, a short tagged sentence otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.fakes.openai_server import OpenAIServer
from tests.fakes.sources_server import SourcesServer

KEY = "sk-fake-local-key"


async def serve() -> None:
    """Start both fakes, print where they are as shell exports, and wait forever."""
    async with SourcesServer() as hf, OpenAIServer(api_key=KEY) as model:
        print(f"export HF_URL={hf.base_url}", flush=True)
        print(f"export MODEL_URL={model.base_url}", flush=True)
        print(f"export SUMMARIES_API_KEY={KEY}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
