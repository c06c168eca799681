"""Coin keys -> assets and decimals, loaded from ``scanner/config/assets.toml``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from ..errors import ConfigError
from .files import read_toml


def config_dir() -> Path:
    """Where networks.toml, coins.toml and assets.toml are read from: ``$PORSCAN_CONFIG_DIR`` (a folder
    holding all three; ``--config``/``--coins`` replace one file each), else the copies that ship in
    the package, ``scanner/config/``."""
    env = os.environ.get("PORSCAN_CONFIG_DIR")
    if env:
        if not Path(env).is_dir():  # else each file under it failed as NotADirectoryError, a traceback
            raise ConfigError(f"PORSCAN_CONFIG_DIR={env}: not a folder (it holds networks.toml, coins.toml "
                              f"and assets.toml)")
        return Path(env)
    # the TOML files ship inside the package (a wheel installs them beside this module)
    return Path(str(files("scanner.config")))


@dataclass(frozen=True, slots=True)
class CoinInfo:
    coin: str  # coin key as in reserve files, upper-case
    asset: str  # the asset it counts towards (USDT-TRC20 -> USDT)
    decimals: int  # base-unit exponent of this coin key's token


CLASSES = ("native", "wrapped", "staked", "receipt")
OWN_ISSUED = "own-issued"  # an asset the scanned exchange issues itself (by ``issuer``)


class AssetBook:
    def __init__(self, coins: dict[str, CoinInfo], classes: dict[str, str] | None = None,
                 issuers: dict[str, str] | None = None):
        self._coins = coins
        self._classes = classes or {}
        self._issuers = issuers or {}

    def asset_class(self, asset: str, exchange: str | None = None) -> str:
        """What an asset is for a scan of ``exchange``: own-issued when that exchange issues it, else its
        configured class (native by default)."""
        issuer = self._issuers.get(asset.upper())
        if issuer and exchange and issuer.lower() == exchange.strip().lower():
            return OWN_ISSUED
        return self._classes.get(asset.upper(), "native")

    @classmethod
    def load(cls, path: Path | None = None) -> "AssetBook":
        path = path or config_dir() / "assets.toml"
        data = read_toml(path)
        coins: dict[str, CoinInfo] = {}
        classes: dict[str, str] = {}
        issuers: dict[str, str] = {}
        overrides = {k.upper(): int(v) for k, v in data.get("coin_decimals", {}).items()}
        for asset, spec in data.get("assets", {}).items():
            decimals = int(spec["decimals"])
            if "class" in spec:
                if spec["class"] not in CLASSES:
                    raise ValueError(f"{path}: assets.{asset}.class: {spec['class']!r} is not one of {', '.join(CLASSES)}")
                classes[asset.upper()] = spec["class"]
            if "issuer" in spec:
                issuers[asset.upper()] = str(spec["issuer"])
            for coin in spec.get("coins", []):
                key = coin.upper()
                if key in coins:
                    raise ValueError(f"{path}: coin {key} belongs to {coins[key].asset} and {asset}")
                coins[key] = CoinInfo(key, asset, overrides.get(key, decimals))
        return cls(coins, classes, issuers)

    def get(self, coin: str) -> CoinInfo | None:
        return self._coins.get(coin.strip().upper())

    def asset_of(self, coin: str) -> str:
        """Asset of a coin key; unknown keys stand for themselves."""
        info = self.get(coin)
        return info.asset if info else coin.strip().upper()

    def decimals(self, coin: str) -> int | None:
        info = self.get(coin)
        return info.decimals if info else None

    def decimals_map(self) -> dict[str, int]:
        return {k: c.decimals for k, c in self._coins.items()}

    def coins_of(self, asset: str) -> list[str]:
        return [c.coin for c in self._coins.values() if c.asset == asset]


@lru_cache(maxsize=1)
def default_book() -> AssetBook:
    return AssetBook.load()
