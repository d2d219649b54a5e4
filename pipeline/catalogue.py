"""The synthetic generator's product catalogue: codes, names, prices, popularity, pack sizes.

Product names are built from the vocabulary of the UCI Online Retail export (``VINTAGE``,
``RETROSPOT``, ``LUNCH BAG``, ...). After the products come the non-product service lines
(POSTAGE, Manual, Discount, ...) and then each product again without a description (free lines).
"""

from __future__ import annotations

import numpy as np

N_PRODUCTS = 4000

PACKS = np.array(
    [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 18, 20, 24, 25, 30, 32, 36, 48, 50, 60, 72, 96, 100, 120,
     144, 200, 240, 288, 300, 360, 480, 500, 576, 600, 720, 1000, 1200, 1440, 2000, 2880]
)

_ADJECTIVES = ("VINTAGE", "RETRO", "SMALL", "LARGE", "JUMBO", "MINI", "WOODEN", "GLASS", "ENAMEL",
               "CERAMIC", "PAPER", "FELT", "WIRE", "ZINC", "HANGING", "SET OF 3", "SET OF 6",
               "PACK OF 12", "REGENCY", "ANTIQUE", "SWEETHEART", "FRENCH", "SCANDINAVIAN")
_COLOURS = ("RED", "PINK", "BLUE", "GREEN", "WHITE", "IVORY", "BLACK", "CREAM", "GOLD", "SILVER",
            "PURPLE", "ORANGE")
_MOTIFS = ("RETROSPOT", "POLKADOT", "PAISLEY", "CHRISTMAS", "BIRD", "FLORAL", "SPACEBOY",
           "DOLLY GIRL", "WOODLAND", "STRAWBERRY", "SKULL", "ROSE", "LOVE", "STAR", "CAT", "OWL",
           "CIRCUS", "HEART", "LONDON", "APPLES", "BAROQUE", "BUTTERFLY")
_NOUNS = ("T-LIGHT HOLDER", "LUNCH BAG", "JUMBO BAG", "CAKE CASES", "MUG", "TEACUP AND SAUCER",
          "DOORMAT", "NAPKINS", "LANTERN", "CANDLE", "PHOTO FRAME", "NOTEBOOK", "WATER BOTTLE",
          "CUSHION COVER", "BOWL", "JUG", "TIN", "BUNTING", "ALARM CLOCK", "CHOPPING BOARD",
          "PARTY BAG", "WALL ART", "GIFT WRAP", "STICKERS", "KEY RING", "HOT WATER BOTTLE",
          "CAKE STAND", "STORAGE JAR", "BAKING SET", "DOOR HANGER", "PURSE", "PLATE", "APRON")

# Non-product lines: code, description. Index into this table follows the catalogue's products.
SERVICE = (
    ("POST", "POSTAGE"),
    ("DOT", "DOTCOM POSTAGE"),
    ("M", "Manual"),
    ("C2", "CARRIAGE"),
    ("D", "Discount"),
    ("S", "SAMPLES"),
    ("B", "Adjust bad debt"),
    ("PADS", "PADS TO MATCH ALL CUSHIONS"),
)
SERVICE_ITEM = {code: N_PRODUCTS + i for i, (code, _) in enumerate(SERVICE)}
NO_DESCRIPTION = N_PRODUCTS + len(SERVICE)  # + product: that product, free, no description


def build_catalogue(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Products (codes, descriptions, prices, popularity) followed by the service lines."""
    numbers = rng.choice(np.arange(10002, 90000), size=N_PRODUCTS, replace=False)
    suffix = np.where(rng.random(N_PRODUCTS) < 0.2, rng.choice(list("ABCDEFGLMNPRSW"),
                                                               N_PRODUCTS), "")
    codes = [f"{n}{s}" for n, s in zip(numbers, suffix, strict=True)]
    picks = [rng.integers(0, len(w), N_PRODUCTS) for w in (_ADJECTIVES, _COLOURS, _MOTIFS, _NOUNS)]
    keep = rng.random((3, N_PRODUCTS)) < np.array([[0.5], [0.5], [0.7]])
    descriptions = [
        " ".join(
            part
            for part, used in (
                (_ADJECTIVES[picks[0][i]], keep[0, i]),
                (_COLOURS[picks[1][i]], keep[1, i]),
                (_MOTIFS[picks[2][i]], keep[2, i]),
                (_NOUNS[picks[3][i]], True),
            )
            if used
        )
        for i in range(N_PRODUCTS)
    ]
    prices = np.maximum(0.1, np.round(rng.lognormal(np.log(2.1), 0.8, N_PRODUCTS) / 0.05) * 0.05)
    popularity = 1.0 / (np.arange(N_PRODUCTS) + 10.0)
    return {
        "code": np.array(codes + [c for c, _ in SERVICE] + codes, dtype=object),
        "description": np.array(
            descriptions + [d for _, d in SERVICE] + [None] * N_PRODUCTS, dtype=object
        ),
        "price": np.round(prices, 2),
        "popularity": rng.permutation(popularity / popularity.sum()),
    }


def snap_to_packs(values: np.ndarray) -> np.ndarray:
    idx = np.clip(np.searchsorted(PACKS, values), 0, len(PACKS) - 1)
    lower = PACKS[np.maximum(idx - 1, 0)]
    return np.where(values - lower < PACKS[idx] - values, lower, PACKS[idx])
