"""A Greenlight deployment for the SDK's stories, from the real binaries.

Both stories (Python and Kotlin) use it; it plays the parts that are not
the phone's:

- the health authority: `greenlight-server authority init`, then
  `greenlight-server` serving key server, device API and portal on
  loopback (exports every second, no padding minimum worth waiting for);
- its staff: sign in to the portal's web forms and issue an upload code,
  as a person does in a browser (CSRF token, session cookie);
- a venue owner: `greenlight venue create` and `greenlight venue posters`
  for today's printed sheet; the sheet's QR text is the line
  `greenlight venue epochs` prints for that epoch (what a phone's camera
  reads off the sheet).

As a module: `with Deployment(bin_dir) as d: d.url, d.issue_code()`.
As a program (for the Kotlin story): `python3 deployment.py BIN_DIR`
prints one JSON line (url, keys, poster), then answers each line `code`
on standard input with a fresh upload code, and stops the server at end
of input.
"""

import datetime
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PASSWORD = "mobile story staff password"
VENUE = "Cafe Mobile"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


class _LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    """Browsers count loopback as a secure context and send the portal's
    `Secure` cookies to it over plain HTTP; Python's cookie jar sends them
    over HTTPS only. The deployment is on 127.0.0.1: behave as a browser."""

    def return_ok_secure(self, cookie, request):
        host = urllib.parse.urlsplit(request.full_url).hostname
        return host in ("127.0.0.1", "localhost", "::1") or super().return_ok_secure(cookie, request)


class Deployment:
    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.dir = tempfile.mkdtemp(prefix="greenlight-mobile-deployment-")
        self.process = None

    def _bin(self, name):
        path = os.path.join(self.bin_dir, name)
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing: build the binaries first")
        return path

    def _run(self, *args, stdin=None):
        done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def __enter__(self):
        data = os.path.join(self.dir, "server")
        out = self._run(
            self._bin("greenlight-server"), "authority", "init", "--data-dir", data, "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        self.authority_key = re.search(r"--authority-key\): ([0-9a-f]{64})", out).group(1)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, GREENLIGHT_REVEAL_DELAY_SECS="0")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.process = subprocess.Popen(
            [self._bin("greenlight-server"), "--data-dir", data, "--listen", f"127.0.0.1:{port}",
             "--export-interval", "1", "--min-batch-keys", "1"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env,
        )
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("the server did not come up: " + open(self.log.name).read())
            time.sleep(0.1)
        with open(os.path.join(data, "export-key.pub")) as f:
            self.export_key = f.read().strip()
        self.poster = self._poster(data)
        self._sign_in()
        return self

    def _poster(self, data):
        owner = os.path.join(self.dir, "owner")
        keys = os.path.join(data, "authority")
        green = self._bin("greenlight")
        self._run(green, "--data-dir", owner, "venue", "create", "--name", VENUE, "--type", "restaurant",
                  "--authority-key", os.path.join(keys, "signing-key.pub"),
                  "--trace-key", os.path.join(keys, "trace-key.pub"))
        self._run(green, "--data-dir", owner, "venue", "posters", "--days", "1",
                  "--out", os.path.join(self.dir, "poster.svg"))
        epochs = self._run(green, "--data-dir", owner, "venue", "epochs", "--from", _today(), "--to", _today())
        return [line for line in epochs.splitlines() if line.startswith("GL")][0]

    def _sign_in(self):
        self.jar = http.cookiejar.CookieJar(policy=_LoopbackIsSecure())
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        form = self._get("/portal/login")
        self._post("/portal/login", {"csrf": self._csrf(form), "username": "admin", "password": PASSWORD})

    def _get(self, path):
        with self.browser.open(self.url + path, timeout=30) as r:
            return r.read().decode()

    def _post(self, path, fields):
        body = urllib.parse.urlencode(fields).encode()
        with self.browser.open(self.url + path, data=body, timeout=30) as r:
            page = r.read().decode()
        self.csrf = self._csrf(page)
        return page

    @staticmethod
    def _csrf(page):
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        if not found:
            raise RuntimeError("no CSRF token on the page: " + page[:500])
        return found.group(1)

    def issue_code(self):
        """Staff issue an upload code for a confirmed test taken today."""
        page = self._post("/portal/codes", {"csrf": self.csrf, "kind": "short", "report_type": "1",
                                            "day_kind": "2", "date": _today()})
        return re.search(r'id="issued-code">([^<]+)<', page).group(1)

    def __exit__(self, *exc):
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


if __name__ == "__main__":
    with Deployment(sys.argv[1]) as d:
        print(json.dumps({"url": d.url, "export_key": d.export_key, "authority_key": d.authority_key,
                          "poster": d.poster}), flush=True)
        for line in sys.stdin:
            if line.strip() == "code":
                print(d.issue_code(), flush=True)
