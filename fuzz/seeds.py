#!/usr/bin/env python3
"""Writes a seed corpus for every fuzz target from spec/vectors/*.json.

Usage: seeds.py OUT_DIR   (one sub-directory per target)

Seeds are the known-answer encodings of the spec, so the fuzzer starts from
valid files and mutates its way into every error path. Inputs that once
crashed a target live in fuzz/regressions/TARGET/ and are added too.
"""
import base64
import hashlib
import json
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"


def load(name):
    return json.loads((VECTORS / f"{name}.json").read_text())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main(out):
    out = pathlib.Path(out)
    seeds = {}

    def add(target, data):
        if isinstance(data, str):
            data = data.encode()
        seeds.setdefault(target, []).append(data)

    h = bytes.fromhex
    proximity, venue = load("proximity"), load("venue")
    export, index = load("export"), load("index")
    certificate, policy = load("certificate"), load("policy")

    for key in proximity["daily_keys"]:
        advert = h(key["advertisement"]["bytes"])
        add("advert", advert)
        add("advert", advert[3:])  # without the Flags structure
        add("advert", advert[11:])  # service data alone
    add("poster", h(venue["poster"]["bytes"]))
    add("poster", venue["poster"]["text"])
    add("sealed_checkin", h(venue["check_in"]["record"]))
    add("trace_entry", h(venue["trace_entry"]["bytes"]))
    add("trace_batch", h(venue["trace_batch"]["signed"]))
    add("revealed_checkin", h(venue["revealed_check_in"]))
    add("release", h(venue["release"]["request"]))
    add("release", h(venue["release"]["bundle"]))
    add("feed_request", h(venue["feed_request"]["signed"]))
    add("export_batch", h(export["body"]))
    add("export_batch", h(export["signed_file"]))
    add("index", h(index["body"]))
    add("index", h(index["signed_file"]))
    add("certificate", h(certificate["body"]))
    add("certificate", h(certificate["signed_file"]))
    add("certificate", certificate["signed_text"])
    for p in policy["policies"]:
        add("policy", h(p["body"]))
        add("policy", h(p["signed_file"]))
    for p in policy["invalid_bodies"]:
        add("policy", h(p["body"]))
    for p in policy["invalid_files"]:
        add("policy", h(p["signed_file"]))
    for target in ["trace_batch", "release", "export_batch", "index", "certificate", "policy"]:
        for data in seeds[target]:
            if data[:3] == b"GL_":
                add("signed_file", data)

    keys = [
        {"key": b64(h(k["key"])), "day": k["day"], "transmission_risk": k["transmission_risk"]}
        for k in certificate["uploaded_keys"]
    ]
    upload = {
        "keys": keys,
        "revealed_checkins": [b64(h(c)) for c in certificate["revealed_checkins"]],
        "certificate": certificate["signed_text"],
        "hmac_key": b64(h(certificate["hmac_key"])),
    }
    add("json_publish", json.dumps(upload))
    add("json_publish", json.dumps(dict(upload, revealed_checkins=[b64(h(venue["revealed_check_in"]))])))
    add("json_publish", json.dumps(dict(upload, revealed_checkins=[])))
    add("json_verify", json.dumps({"code": "1234 5678"}))
    add("json_verify", json.dumps({"code": "abcd-efgh-jkmn-pqrs", "padding": "...."}))
    add("json_certificate", json.dumps({"token": "A" * 43, "upload_hmac": b64(h(certificate["upload_hmac"]))}))
    add("json_certificate", json.dumps({"token": "t", "upload_hmac": "", "padding": "xxxx"}))

    regressions = ROOT / "fuzz" / "regressions"
    for target_dir in sorted(regressions.glob("*")) if regressions.exists() else []:
        for path in sorted(target_dir.iterdir()):
            add(target_dir.name, path.read_bytes())

    for target, items in sorted(seeds.items()):
        directory = out / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for data in items:
            (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print(f"seeded {sum(map(len, seeds.values()))} inputs for {len(seeds)} targets in {out}")


if __name__ == "__main__":
    main(sys.argv[1])
