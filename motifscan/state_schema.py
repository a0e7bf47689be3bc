"""What a ``--state`` file holds, encoded to JSON and checked when read back: every value
against the schema (counts, numbers, blocks, times, undecided candidates, fingerprints),
so a tampered or truncated state is refused with the place it went wrong.
"""

from __future__ import annotations

import json
import math

import numpy as np

from motifscan.signal import SignalBlock

# The columns every carried candidate has (see ChannelDetector.candidates).
CANDIDATE_COLUMNS = ("position", "score", "cosine", "scale", "scan")
#: Units a block's times may be kept in (NumPy's datetime64 units).
TIME_UNITS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as")


class InvalidState(Exception):
    """What is wrong with a state document (caught and turned into one MotifscanError)."""


def need(condition: bool, what: str) -> None:
    if not condition:
        raise InvalidState(what)


def _is_count(value) -> bool:
    return type(value) is int and value >= 0


def _is_number(value) -> bool:
    return type(value) in (int, float)


def _numbers(values, where: str, kind: str = "number") -> list:
    need(isinstance(values, list), f"{where} must be a list")
    check = {"number": _is_number, "count": _is_count, "int": lambda v: type(v) is int}[kind]
    for index, value in enumerate(values):
        need(
            check(value),
            f"{where}[{index}] must be a{' whole number >= 0' if kind == 'count' else ' number' if kind == 'number' else ' whole number'}, got {json.dumps(value)}",
        )
    return values


def json_object(value, where: str, keys: tuple, optional: tuple = ()) -> dict:
    need(isinstance(value, dict), f"{where} must be an object")
    missing = [key for key in keys if key not in value]
    need(not missing, f"{where} lacks {', '.join(missing)}")
    unknown = sorted(set(value) - set(keys) - set(optional))
    need(not unknown, f"{where} has unknown key {', '.join(unknown)}")
    return value


def _encode_times(time: np.ndarray | None) -> dict | None:
    if time is None:
        return None
    if time.dtype.kind == "M":
        return {"unit": np.datetime_data(time.dtype)[0], "values": time.astype(np.int64).tolist()}
    return {"unit": None, "values": time.tolist()}


def _decode_times(data, where: str, rows: int) -> np.ndarray | None:
    if data is None:
        return None
    json_object(data, where, ("unit", "values"))
    unit = data["unit"]
    need(unit is None or unit in TIME_UNITS, f"{where}.unit must be null or one of {', '.join(TIME_UNITS)}")
    values = _numbers(data["values"], f"{where}.values", "int" if unit else "number")
    need(len(values) == rows, f"{where}.values must have {rows} entries, got {len(values)}")
    if unit:
        return np.asarray(values, dtype=np.int64).astype(f"datetime64[{unit}]")
    return np.asarray(values, dtype=np.float64)


def encode_block(block: SignalBlock) -> dict:
    # json writes NaN and Infinity for non-finite floats and reads them back.
    return {
        "channels": {name: values.tolist() for name, values in block.channels.items()},
        "time": _encode_times(block.time),
    }


def _decode_block(data, where: str) -> SignalBlock:
    json_object(data, where, ("channels", "time"))
    need(isinstance(data["channels"], dict) and bool(data["channels"]), f"{where}.channels must be a non-empty object")
    lengths = {
        len(_numbers(values, f"{where}.channels[{json.dumps(name)}]")) for name, values in data["channels"].items()
    }
    need(len(lengths) == 1, f"{where}.channels must all have the same length")
    rows = lengths.pop()
    channels = {name: np.asarray(values, dtype=np.float64) for name, values in data["channels"].items()}
    return SignalBlock(channels, _decode_times(data["time"], f"{where}.time", rows))


def encode_undecided(undecided) -> dict:
    detectors = []
    for channel, columns, taken in undecided.detectors:
        encoded = {}
        for name, values in columns.items():
            encoded[name] = _encode_times(values) if name == "time" else values.tolist()
        detectors.append({"channel": channel, "candidates": encoded, "taken": [list(accepted) for accepted in taken]})
    return {
        "detectors": detectors,
        "noise_floor": None if undecided.noise_floor is None else [list(entry) for entry in undecided.noise_floor],
        "thresholds": undecided.thresholds,
    }


def _decode_undecided(data, where: str, rows: int, with_time: bool, with_distance: bool):
    from motifscan.pipeline import Undecided

    json_object(data, where, ("detectors", "noise_floor"), ("thresholds",))
    need(isinstance(data["detectors"], list), f"{where}.detectors must be a list")
    expected = set(CANDIDATE_COLUMNS) | ({"time"} if with_time else set()) | ({"distance"} if with_distance else set())
    detectors = []
    for index, entry in enumerate(data["detectors"]):
        at = f"{where}.detectors[{index}]"
        json_object(entry, at, ("channel", "candidates", "taken"))
        need(isinstance(entry["channel"], str), f"{at}.channel must be a string")
        candidates = entry["candidates"]
        # A detector with no open candidate has only the columns every detector has.
        need(
            isinstance(candidates, dict)
            and (
                set(candidates) == expected
                or (set(candidates) == set(CANDIDATE_COLUMNS) and candidates["position"] == [])
            ),
            f"{at}.candidates must have the columns {', '.join(sorted(expected))}",
        )
        positions = _numbers(candidates["position"], f"{at}.candidates.position", "count")
        count = len(positions)
        if count == 0:
            expected_here = set(CANDIDATE_COLUMNS)
        else:
            expected_here = expected
        need(all(a <= b for a, b in zip(positions, positions[1:])), f"{at}.candidates.position must be sorted")
        need(not positions or positions[-1] < rows, f"{at}.candidates.position must be before row {rows}")
        columns: dict = {"position": np.asarray(positions, dtype=np.int64)}
        for name in sorted(expected_here & set(candidates) - {"position", "time"}):
            values = _numbers(candidates[name], f"{at}.candidates.{name}", "count" if name == "scan" else "number")
            need(len(values) == count, f"{at}.candidates.{name} must have {count} entries")
            need(name == "scan" or all(math.isfinite(v) for v in values), f"{at}.candidates.{name} must be finite")
            columns[name] = np.asarray(values, dtype=np.int64 if name == "scan" else np.float64)
        if with_time and count:
            columns["time"] = _decode_times(candidates["time"], f"{at}.candidates.time", count)
        taken = entry["taken"]
        need(isinstance(taken, list), f"{at}.taken must be a list")
        for index, accepted in enumerate(taken):
            _numbers(accepted, f"{at}.taken[{index}]", "count")
            need(
                len(accepted) == 4 and accepted[3] >= 1,
                f"{at}.taken[{index}] must be [start, scan, gap, span] with span >= 1",
            )
        detectors.append((entry["channel"], columns, [tuple(accepted) for accepted in taken]))
    floor = data["noise_floor"]
    if floor is not None:
        need(isinstance(floor, list), f"{where}.noise_floor must be null or a list")
        for index, entry in enumerate(floor):
            at = f"{where}.noise_floor[{index}]"
            need(
                isinstance(entry, list)
                and len(entry) in (3, 4)
                and (len(entry) == 3 or (isinstance(entry[3], list) and all(_is_number(w) for w in entry[3])))
                and isinstance(entry[0], list)
                and all(isinstance(name, str) for name in entry[0])
                and _is_count(entry[1])
                and _is_number(entry[2])
                and math.isfinite(entry[2])
                and entry[2] >= 0,
                f"{at} must be [channels, kernel length, floor >= 0] or with the channel weights fourth",
            )
    thresholds = data.get("thresholds")
    if thresholds is not None:
        # --threshold mad:K or fa:RATE as the run that completed the reference stretch
        # decided them: score track label -> threshold.
        need(isinstance(thresholds, dict), f"{where}.thresholds must be null or an object")
        for label, value in thresholds.items():
            need(
                _is_number(value) and math.isfinite(value) and value >= 0,
                f"{where}.thresholds[{json.dumps(label)}] must be a number >= 0",
            )
        thresholds = {label: float(value) for label, value in thresholds.items()}
    return Undecided(detectors, floor, thresholds)


def _check_fingerprint(data, where: str) -> dict:
    json_object(data, where, ("size", "mtime_ns", "device", "inode", "head_bytes", "head_sha256"), ("end_sha256",))
    for key in ("size", "mtime_ns", "device", "inode", "head_bytes"):
        need(_is_count(data[key]), f"{where}.{key} must be a whole number >= 0, got {json.dumps(data[key])}")
    for key in ("head_sha256", "end_sha256"):
        if key in data:
            value = data[key]
            need(
                isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value),
                f"{where}.{key} must be a SHA-256 in hex",
            )
    return data


def check_entry(entry, where: str, with_distance: bool) -> dict:
    """The entry of one input, checked; its tail and undecided candidates decoded."""
    json_object(entry, where, ("rows", "fingerprint", "tail", "undecided"), ("offset",))
    need(_is_count(entry["rows"]), f"{where}.rows must be a whole number >= 0, got {json.dumps(entry['rows'])}")
    fingerprint = _check_fingerprint(entry["fingerprint"], f"{where}.fingerprint")
    if "offset" in entry:
        offset = entry["offset"]
        need(_is_count(offset), f"{where}.offset must be a whole number >= 0, got {json.dumps(offset)}")
        need(
            offset == fingerprint["size"], f"{where}.offset must be the size read ({fingerprint['size']}), got {offset}"
        )
        need("end_sha256" in fingerprint, f"{where}.fingerprint lacks end_sha256")
    tail = _decode_block(entry["tail"], f"{where}.tail")
    need(tail.rows <= entry["rows"], f"{where}.tail has {tail.rows} rows, more than the {entry['rows']} read")
    undecided = _decode_undecided(
        entry["undecided"], f"{where}.undecided", entry["rows"], tail.time is not None, with_distance
    )
    return dict(entry, tail=tail, undecided=undecided)


def check_output(data, where: str) -> dict | None:
    if data is None:
        return None
    json_object(data, where, ("path", "device", "inode", "header", "pending"))
    need(isinstance(data["path"], str) and bool(data["path"]), f"{where}.path must be a file name")
    need(
        _is_count(data["device"]) and _is_count(data["inode"]), f"{where}.device and .inode must be whole numbers >= 0"
    )
    need(data["header"] is None or isinstance(data["header"], str), f"{where}.header must be null or a string")
    need(isinstance(data["pending"], str), f"{where}.pending must be a string")
    return data
