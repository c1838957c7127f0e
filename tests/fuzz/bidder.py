"""An OpenRTB bidder for scripts/fuzz.sh, so that the `openrtb` selector's operations (the outside
ads' images) reach a 2xx: answers every BidRequest with one native bid for its first imp, priced
under the seeded house campaign and over the reserve (so a page with two slots carries both), and
serves the bid's image.

Usage: bidder.py PORT
"""

import io
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

PORT = int(sys.argv[1])
IMAGE_URL = f"http://127.0.0.1:{PORT}/image.png"


def _png():
    out = io.BytesIO()
    Image.new("RGB", (540, 960), (194, 65, 12)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


class Bidder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        imps = request.get("imp") or []
        if not imps:
            self._send(204, "text/plain", b"")
            return
        adm = {
            "ver": "1.2",
            "assets": [
                {"id": 1, "title": {"text": "Outside shoes"}},
                {"id": 2, "img": {"url": IMAGE_URL, "w": 1080, "h": 1920}},
                {"id": 3, "data": {"value": "Shop now"}},
            ],
            "link": {"url": "https://shoes.example/buy"},
        }
        bid = {"id": "b1", "impid": imps[0]["id"], "price": 0.15, "adm": json.dumps(adm), "adomain": ["shoes.example"]}
        answer = {"id": request.get("id"), "cur": "USD", "seatbid": [{"bid": [bid]}]}
        self._send(200, "application/json", json.dumps(answer).encode())

    def do_GET(self):
        self._send(200, "image/png", PNG)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Bidder).serve_forever()
