"""Where to mix inside an unmodified Hugging Face model: token embeddings, the embeddings block,
transformer layers (TMix) and the pooled sentence vector (senMixup), as qualified module names found by
duck typing (``get_input_embeddings()``, ``base_model_prefix``, ``config.model_type``), without transformers.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from ..exceptions import HookSiteError

__all__: list[str] = []  # internal: the public names are re-exported by the package

# model_type -> (module under the base model, output element) whose output is the vector the
# classification head reads: BERT's pooler output (B, H); for RoBERTa / DistilBERT the head reads
# position 0 of the encoder output, and GPT-2's reads the last non-padding position of ln_f's
# output, so mixing those whole outputs mixes exactly the pooled vectors (GPT-2: with left padding).
POOLED_SITES: dict[str, tuple[str, str | int | None]] = {
    "bert": ("pooler", None),
    "roberta": ("encoder", "last_hidden_state"),
    "xlm-roberta": ("encoder", "last_hidden_state"),
    "camembert": ("encoder", "last_hidden_state"),
    "electra": ("encoder", "last_hidden_state"),
    "distilbert": ("transformer", "last_hidden_state"),
    "gpt2": ("ln_f", None),
}


def _base(model: nn.Module) -> tuple[nn.Module, str]:
    """The bare transformer inside a task model, and its qualified-name prefix (``"bert."``, or ``""``)."""
    prefix = getattr(model, "base_model_prefix", "") or ""
    base = getattr(model, prefix, None) if prefix else None
    if isinstance(base, nn.Module):
        return base, prefix + "."
    return model, ""


def token_embedding_site(model: nn.Module) -> str:
    """Qualified name of ``model.get_input_embeddings()``, the token (word) embedding table.

    Example:
        >>> class Tiny(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.emb = nn.Embedding(10, 4)
        ...     def get_input_embeddings(self):
        ...         return self.emb
        >>> token_embedding_site(Tiny())
        'emb'
    """
    get = getattr(model, "get_input_embeddings", None)
    if not callable(get):
        raise HookSiteError(
            f"{type(model).__name__} has no get_input_embeddings(); token-embedding mixing needs a Hugging Face "
            "style model. Name the embedding module yourself with at='<qualified name>' "
            "(see mixup_any.hooks.attach), or mix a hidden layer instead."
        )
    emb = get()
    if not isinstance(emb, nn.Module):
        raise HookSiteError(
            f"{type(model).__name__}.get_input_embeddings() returned {type(emb).__name__}, not a module; "
            "token-embedding mixing needs the embedding module to hook its output."
        )
    name = next((n for n, m in model.named_modules() if m is emb), None)
    if name is None:
        raise HookSiteError(f"{type(emb).__name__} is not a submodule of {type(model).__name__}.")
    return name


def embeddings_block_site(model: nn.Module) -> str:
    """Qualified name of the whole embeddings block (token + position (+ type) embeddings, LayerNorm,
    dropout): ``<base>.embeddings`` for BERT-like encoders, GPT-2's ``transformer.drop`` (the dropout
    applied to ``wte + wpe``)."""
    base, prefix = _base(model)
    emb = getattr(base, "embeddings", None)
    if isinstance(emb, nn.Module):
        return prefix + "embeddings"
    if isinstance(getattr(base, "wte", None), nn.Module) and isinstance(getattr(base, "drop", None), nn.Module):
        return prefix + "drop"
    raise HookSiteError(
        f"Could not find the embeddings block of {type(model).__name__} (looked for {prefix}embeddings and "
        f"GPT-2's {prefix}drop). Pass its qualified name, e.g. at='bert.embeddings'."
    )


def layer_sites(model: nn.Module, layers: int | Iterable[int]) -> list[str]:
    """Qualified names of transformer blocks, numbered as ``output_hidden_states``: layer ``k`` in
    ``1..N`` is the output of the ``k``-th block (``hidden_states[k]``); ``0`` is the embeddings block.

    Example: ``layer_sites(bert, [7, 9, 12])`` →
    ``['bert.encoder.layer.6', 'bert.encoder.layer.8', 'bert.encoder.layer.11']`` (TMix's set).
    """
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)  # the longest list of that many blocks
    lists = [(k, m) for k, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0
             and (n is None or len(m) == n)]
    if not lists:
        raise HookSiteError(
            f"Could not find the list of transformer layers of {type(model).__name__} (a ModuleList of "
            f"config.num_hidden_layers={n} blocks). Pass layer modules by name to mixup_any.hooks.attach."
        )
    name, blocks = max(lists, key=lambda kv: len(kv[1]))
    ks = [layers] if isinstance(layers, int) else list(layers)
    if not ks:
        raise HookSiteError("layers is empty; give at least one layer number in 0..N.")
    out = []
    for k in ks:
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= len(blocks):
            raise HookSiteError(
                f"Layer {k!r} does not exist: {type(model).__name__} has {len(blocks)} layers, numbered 1..{len(blocks)} "
                "as in output_hidden_states (0 is the embeddings block)."
            )
        out.append(embeddings_block_site(model) if k == 0 else f"{name}.{k - 1}")
    return out


def pooled_site(model: nn.Module) -> tuple[str, str | int | None]:
    """``(qualified name, output element)`` whose output is the pooled vector the head classifies
    (see :data:`POOLED_SITES`)."""
    base, prefix = _base(model)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in POOLED_SITES:
        raise HookSiteError(
            f"No known pooled site for model_type={model_type!r} (known: {sorted(POOLED_SITES)}). Pass the module "
            "whose output the classification head reads, e.g. at='bert.pooler'."
        )
    sub, element = POOLED_SITES[model_type]
    if not isinstance(getattr(base, sub, None), nn.Module):
        raise HookSiteError(
            f"{type(model).__name__} has no {prefix}{sub} module (is the pooler disabled, add_pooling_layer=False?). "
            "Pass the pooled site yourself with at=."
        )
    return prefix + sub, element
