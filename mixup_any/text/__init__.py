"""Text mixup on unmodified Hugging Face models (needs ``transformers`` only for the models themselves).

* :class:`TextMixer` — the text route, ``attach(TextMixer(mixer), model, at="tokens")``: mix token
  embeddings (default, attention mask = union of the pair), the embeddings block, a transformer layer drawn
  per batch (TMix) or the pooled vector (senMixup).
* :func:`mixup_any.text.masks.mix_attention_mask` — the mask rules (``"union"``, ``"own"``, ``"intersection"``).
* :class:`SentenceEncoder` / :func:`pool` — pooled features of a frozen encoder, computed once with
  ``mixup_any.frozen.cache_features(SentenceEncoder(encoder), data)``.
* :class:`mixup_any.integrations.hf.MixupTrainer` — the ``transformers.Trainer`` integration.

This subpackage duck-types the models and never imports transformers itself; it is the user's model.
"""

from __future__ import annotations

from .features import SentenceEncoder, pool
from .mixing import TextMixer

__all__ = ["SentenceEncoder", "TextMixer", "pool"]
