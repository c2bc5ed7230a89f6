"""The zoo's cards, registered beside each ``@register_model``, and name resolution.

``register_card(Card(...))`` in a model file adds its card; :func:`card_for` answers for any model, a zoo model by
its card and any other timm classifier by a card made from its ``pretrained_cfg``.
"""

from __future__ import annotations

import difflib

from ..card import Card, Licence
from ..errors import InputError

CARDS: dict[str, Card] = {}


def register_card(card: Card) -> Card:
    CARDS[card.name] = card
    return card


def zoo() -> list[str]:
    """The zoo's model names, in registration order."""
    return list(CARDS)


def resolve_name(name: str) -> str:
    """A zoo name (with or without a pretrained tag), or any timm model name; a typo gets a suggestion."""
    import timm

    base = name.split(".")[0]
    if base in CARDS or timm.list_models(base):
        return name
    close = difflib.get_close_matches(base, list(CARDS) + timm.list_models(f"*{base[:4]}*"), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError(f"unknown model {name!r}{hint}: choose one of {', '.join(CARDS)} or any timm model name")


def card_for(name: str, model=None) -> Card:
    """The card of a zoo model; for another timm model, a card made from its pretrained_cfg."""
    base = name.split(".")[0]
    if base in CARDS:
        return CARDS[base]
    cfg = (getattr(model, "pretrained_cfg", None) or {}) if model is not None else {}
    size = int((cfg.get("input_size") or (3, 224, 224))[-1])
    return Card(name=base, family="timm", summary=f"timm's {base} with a one-logit head", size=size,
                fixed_size=bool(cfg.get("fixed_input_size", False)),
                licence=Licence(code=f"timm (Apache-2.0); {base}: {cfg.get('license', 'see its timm model card')}"))


__all__ = ["CARDS", "register_card", "zoo", "resolve_name", "card_for"]
