"""The resident's story through the SDK's Python wheel, against the real
server binaries (see ../deployment.py): two phones, a real poster, a
portal-issued code, a close contact turning yellow with its reasons; and
bad input raising typed exceptions that change nothing.

Run by tests/mobile.sh: GREENLIGHT_BIN_DIR names the directory with
`greenlight-server` and `greenlight`.
"""

import os
import sqlite3
import sys
import time

import pytest

import greenlight_mobile as gl

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from deployment import Deployment  # noqa: E402

DAY = 86_400


class StoryClock(gl.Clock):
    """The injectable clock: days pass when the test says so."""

    def __init__(self):
        self.t = None

    def now(self):
        return self.t if self.t is not None else int(time.time())


@pytest.fixture(scope="module")
def deployment():
    with Deployment(os.environ["GREENLIGHT_BIN_DIR"]) as d:
        yield d


def config(d):
    return gl.ServerConfig(key_server_url=d.url, authority_url=None, export_key_hex=d.export_key,
                           authority_key_hex=d.authority_key)


def test_a_diagnosis_reported_through_the_sdk_turns_the_close_contact_yellow(deployment, tmp_path):
    # Alice keeps her store under a passphrase and advertises at -25 dBm;
    # Bob's device key comes from the platform keystore.
    alice_dir, bob_dir = str(tmp_path / "alice"), str(tmp_path / "bob")
    alice = gl.GreenlightPhone.open_with_passphrase(alice_dir, "alice's passphrase",
                                                    gl.DeviceCalibration(tx_power_dbm=-25, rssi_correction_db=0))
    bob_key = gl.generate_device_key()
    assert len(bob_key) == 32
    bob = gl.GreenlightPhone.open_with_key(bob_dir, bob_key, None)
    alice_clock, bob_clock = StoryClock(), StoryClock()
    alice.set_clock(alice_clock)
    bob.set_clock(bob_clock)

    # Wrong order: nothing configured yet.
    with pytest.raises(gl.GreenlightError.NotConfigured):
        bob.sync()
    with pytest.raises(gl.GreenlightError.NotConfigured):
        alice.report("12345678", [])
    assert bob.status().color == gl.Color.STALE, "never synced: stale, not a silent green"
    door = bob.current_pass()
    assert (door.word, door.admits, door.region, door.check_in) == ("STALE", False, None, None), door
    with pytest.raises(gl.GreenlightError.InvalidArgument):
        bob.configure(gl.ServerConfig(key_server_url="not a url", authority_url=None,
                                      export_key_hex=deployment.export_key,
                                      authority_key_hex=deployment.authority_key))
    assert not bob.is_configured(), "a refused configuration stores nothing"
    alice.configure(config(deployment))
    bob.configure(config(deployment))

    # Two days ago, 09:00-09:45, Bob sits next to Alice: his scanner hears
    # her advertisement every 5 minutes at -80 dBm (55 dB from -25 dBm).
    today = int(time.time()) // DAY
    meeting = (today - 2) * DAY + 9 * 3600
    heard = set()
    for k in range(9):
        t = meeting + k * 300
        alice_clock.t = bob_clock.t = t
        ad = alice.advertisement()
        assert ad is not None
        assert len(ad.service_data) == 20 and len(ad.packet) == 31
        assert t < ad.valid_until <= t + 600, "valid until the next rotation"
        heard.add(bytes(ad.service_data))
        recorded = bob.record_sightings([gl.ScannedAdvertisement(payload=ad.service_data, rssi=-80, seen_at=t)])
        assert recorded.stored == 1
    assert len(heard) == 5, "45 minutes span five 10-minute intervals: five different IDs"
    # A garbage payload refuses the whole call.
    with pytest.raises(gl.GreenlightError.InvalidArgument):
        bob.record_sightings([gl.ScannedAdvertisement(payload=ad.packet, rssi=-80, seen_at=t),
                              gl.ScannedAdvertisement(payload=b"\x01\x02\x03", rssi=-80, seen_at=t)])
    alice_clock.t = bob_clock.t = None

    # Today Alice visits the café: her camera reads the printed poster.
    with pytest.raises(gl.GreenlightError.NotAPoster):
        alice.check_in("GL1:this-is-not-a-poster")
    with pytest.raises(gl.GreenlightError.NotAPoster):
        alice.check_in("https://example.com/some other QR code")
    checked = alice.check_in(deployment.poster)
    assert checked.venue == "Cafe Mobile" and not checked.extended
    door = alice.current_pass()
    assert door.check_in is not None and door.check_in.venue == "Cafe Mobile", door
    [visit] = alice.visits()
    assert door.check_in == visit, "the guard sees the visit in progress, arrival to the minute"
    assert visit.venue == "Cafe Mobile" and visit.kind == "restaurant"
    out = alice.check_out()
    assert out.departure >= out.arrival
    with pytest.raises(gl.GreenlightError.NotCheckedIn):
        alice.check_out()
    [visit] = alice.visits()
    assert visit.departure == out.departure, "the diary has the real departure"

    # She tests positive; staff issue her a code in the portal.
    with pytest.raises(gl.GreenlightError.Refused) as refused:
        alice.report("00000000", [])
    assert refused.value.step == "verify"
    with pytest.raises(gl.GreenlightError.InvalidArgument):
        alice.report(deployment.issue_code(), ["not a visit id"])
    code = deployment.issue_code()
    [offered] = alice.revealable_visits()
    assert offered.id == visit.id
    reported = alice.report(code, [visit.id])
    assert today - 2 in reported.days and reported.revealed_visits == 1 and reported.report_type == 1
    status = alice.status()
    assert status.color == gl.Color.RED
    assert any(r.is_diagnosis() for r in status.reasons), status
    with pytest.raises(gl.GreenlightError):
        alice.report(code, [])
    alice_clock.t = meeting
    assert alice.advertisement() is None, "a published key is never broadcast again"
    alice_clock.t = None

    # Bob's phone syncs (the server exports every second) and turns yellow.
    deadline = time.time() + 60
    while True:
        bob.sync()
        status = bob.status()
        if status.color == gl.Color.YELLOW or time.time() > deadline:
            break
        time.sleep(0.5)
    assert status.color == gl.Color.YELLOW, status.explanation
    ble = [r for r in status.reasons if r.is_bluetooth_day()]
    assert len(ble) == 1 and ble[0].day == today - 2 and ble[0].qualifies, status.reasons
    assert ble[0].weighted_minutes >= ble[0].threshold_minutes
    assert status.until is not None and status.until > int(time.time())
    assert "Bluetooth" in status.explanation
    door = bob.current_pass()
    assert (door.word, door.admits, door.status.color) == ("YELLOW", False, gl.Color.YELLOW), door
    assert door.region and door.fresh_as_of is not None and door.status.until == status.until

    # A wrong passphrase is refused and changes nothing; the right one opens.
    del alice
    with pytest.raises(gl.GreenlightError.WrongKey):
        gl.GreenlightPhone.open_with_passphrase(alice_dir, "not alice's passphrase", None)
    alice = gl.GreenlightPhone.open_with_passphrase(alice_dir, "alice's passphrase", None)
    assert alice.status().color == gl.Color.RED and len(alice.visits()) == 1
    with pytest.raises(gl.GreenlightError.WrongKey):
        gl.GreenlightPhone.open_with_key(bob_dir, gl.generate_device_key(), None)
    with pytest.raises(gl.GreenlightError.InvalidArgument):
        gl.GreenlightPhone.open_with_key(str(tmp_path / "short"), b"too short", None)

    # A tampered file: a sealed exposure altered on disk.
    db = sqlite3.connect(os.path.join(bob_dir, "greenlight.db"))
    (row, sealed), = db.execute("SELECT id, sealed FROM exposures LIMIT 1").fetchall()[:1]
    db.execute("UPDATE exposures SET sealed = ? WHERE id = ?", (bytes([sealed[0] ^ 1]) + sealed[1:], row))
    db.commit()
    db.close()
    with pytest.raises(gl.GreenlightError.Tampered):
        bob.status()

    # Wipe: everything gone, the object closed.
    alice.wipe()
    assert not os.path.exists(os.path.join(alice_dir, "greenlight.db"))
    with pytest.raises(gl.GreenlightError.Closed):
        alice.status()


def test_a_store_from_a_newer_version_is_refused_untouched(tmp_path):
    d = str(tmp_path / "newer")
    phone = gl.GreenlightPhone.open_with_key(d, bytes(32), None)
    del phone
    db = sqlite3.connect(os.path.join(d, "greenlight.db"))
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(gl.GreenlightError.NewerStore) as newer:
        gl.GreenlightPhone.open_with_key(d, bytes(32), None)
    assert newer.value.found == 99 and newer.value.known == 2
    db = sqlite3.connect(os.path.join(d, "greenlight.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 99, "left as it was"
    db.close()
