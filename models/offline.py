"""Keep the model libraries offline: no hub look-ups, no telemetry, ever."""

from __future__ import annotations

import os

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "ANONYMIZED_TELEMETRY": "False",
}


def enforce_offline() -> None:
    """Set the variables that stop Hugging Face and friends from reaching any network.

    Must run before ``transformers``/``huggingface_hub`` are imported, because they read these
    variables at import time; the CLI calls it first thing and the embedder calls it again.
    """
    os.environ.update(_OFFLINE_ENV)
