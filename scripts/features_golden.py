#!/usr/bin/env python3
"""Regenerates crates/zerotick-features/tests/fixtures/golden.json: indicator values computed by
reference libraries (pandas, TA-Lib) on a small seeded data set, for tests/golden.rs.

Run from the repository root (the venv is not committed):

    python3 -m venv .venv && .venv/bin/pip install pandas numpy TA-Lib
    .venv/bin/python scripts/features_golden.py

The inputs are generated here from a fixed seed and written into the fixture with the outputs,
so the Rust test needs nothing but the JSON. Library versions are recorded in "generator".
Conventions (the crate's definitions, which these reproduce):
  EMA, MACD       pandas ewm(span, adjust=False) (seeded with the first value), min_periods
  SMA, RSI, BBANDS, ATR, TRANGE   TA-Lib (RSI/ATR: Wilder smoothing seeded with a plain mean;
                                  BBANDS: population deviation, matype=0)
  rolling moments, VWAP, realized vol, flow imbalance: pandas rolling sums / moments;
  time windows: pandas rolling("5s") on a DatetimeIndex (window (t - 5s, t]).
"""

import json
import math
import pathlib
import sys

import numpy as np
import pandas as pd
import talib

N = 240
SEED = 17
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/zerotick-features/tests/fixtures/golden.json"


def clean(series):
    """A list of floats with NaN as None (JSON null)."""
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)
            for v in np.asarray(series, dtype=float).tolist()]


def main():
    rng = np.random.default_rng(SEED)
    # Irregular event times: exponential gaps of mean 200 ms, one 12 s gap (longer than the
    # 5 s window), a few equal timestamps.
    gaps = rng.exponential(0.2e9, N).astype(np.int64)
    gaps[N // 2] = 12_000_000_000
    gaps[10:13] = 0
    ts = 1_700_000_000_000_000_000 + np.cumsum(gaps)
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, N)))
    size = np.round(rng.lognormal(0.0, 1.0, N), 6)
    side = rng.choice([-1, 1], N)
    # Bars (for ATR / true range): a random walk of closes with highs and lows around it.
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, N)))
    high = close * np.exp(np.abs(rng.normal(0.0, 0.005, N)))
    low = close * np.exp(-np.abs(rng.normal(0.0, 0.005, N)))

    p = pd.Series(price)
    v = pd.Series(size)
    sv = pd.Series(side * size)
    out = {}
    out["ema_10"] = clean(p.ewm(span=10, adjust=False, min_periods=10).mean())
    fast = p.ewm(span=12, adjust=False).mean()
    slow = p.ewm(span=26, adjust=False).mean()
    line = fast - slow
    signal = line.ewm(span=9, adjust=False).mean()
    warm = np.arange(N) >= 26 + 9 - 2
    out["macd_line"] = clean(line.where(warm))
    out["macd_signal"] = clean(signal.where(warm))
    out["macd_histogram"] = clean((line - signal).where(warm))
    out["sma_20"] = clean(talib.SMA(price, timeperiod=20))
    r = p.rolling(20)
    out["mean_20"] = clean(r.mean())
    out["var_20"] = clean(r.var(ddof=0))
    out["var_sample_20"] = clean(r.var(ddof=1))
    out["std_20"] = clean(r.std(ddof=0))
    out["rsi_14"] = clean(talib.RSI(price, timeperiod=14))
    upper, middle, lower = talib.BBANDS(price, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = clean(upper), clean(middle), clean(lower)
    out["vwap_20"] = clean((p * v).rolling(20).sum() / v.rolling(20).sum())
    logret = np.log(p).diff()
    out["rv_20"] = clean(np.sqrt((logret ** 2).rolling(20).sum()))
    out["flow_20"] = clean(sv.rolling(20).sum() / v.rolling(20).sum())
    idx = pd.to_datetime(ts, unit="ns")
    pt = pd.Series(price, index=idx).rolling("5s")
    out["mean_5s"] = clean(pt.mean().to_numpy())
    out["var_5s"] = clean(pt.var(ddof=0).to_numpy())
    out["count_5s"] = clean(pt.count().to_numpy())
    out["atr_14"] = clean(talib.ATR(high, low, close, timeperiod=14))
    out["trange"] = clean(talib.TRANGE(high, low, close))

    doc = {
        "generator": {
            "script": "scripts/features_golden.py",
            "seed": SEED,
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "ta-lib (python)": talib.__version__,
            "ta-lib (C)": talib.__ta_version__.decode().split()[0],
        },
        "inputs": {
            "ts_ns": [int(t) for t in ts],
            "price": clean(price),
            "size": clean(size),
            "side": [int(s) for s in side],
            "high": clean(high),
            "low": clean(low),
            "close": clean(close),
        },
        "outputs": out,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
