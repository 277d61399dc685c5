"""Transport benchmark: an RGBA8 canvas round trip through the daemon's `debug.echo`, against
(a) the same bytes over a raw loopback TCP socket and back, and (b) PNG encode + HTTP POST to a
local http.server + PNG decode and back (the path ComfyUI-based tools use).

    python -m benchmarks.transport [--sizes 512,1024,4096] [--repeat 5]
"""
from __future__ import annotations

import argparse
import http.client
import http.server
import io
import multiprocessing as mp
import socket
import struct

import numpy as np
from PIL import Image

from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData

from ..common import median, running_daemon, table, timed


def canvas(size: int) -> np.ndarray:
    """A realistic painting-like canvas (a photo scaled up), so PNG compresses as it would in use."""
    from skimage import data

    rgb = np.asarray(Image.fromarray(data.astronaut()).resize((size, size), Image.BICUBIC))
    alpha = np.full((size, size, 1), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=2))


def _recv_exact(conn: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = conn.recv_into(view[got:], n - got)
        if not k:
            raise ConnectionError("peer closed")
        got += k
    return buf


def tcp_echo_server(port_queue) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port_queue.put(srv.getsockname()[1])
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        try:
            (n,) = struct.unpack("!Q", _recv_exact(conn, 8))
        except ConnectionError:
            return
        data = _recv_exact(conn, n)
        conn.sendall(struct.pack("!Q", n))
        conn.sendall(data)


class PngEcho(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        pixels = np.asarray(Image.open(io.BytesIO(body)))  # what a server does: decode to pixels…
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="PNG")  # …and encode its answer
        payload = out.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def http_server(port_queue) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), PngEcho)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024,4096")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    queue = mp.Queue()
    procs = [mp.Process(target=tcp_echo_server, args=(queue,), daemon=True),
             mp.Process(target=http_server, args=(queue,), daemon=True)]
    procs[0].start()
    tcp_port = queue.get(timeout=10)
    procs[1].start()
    http_port = queue.get(timeout=10)
    raw = socket.create_connection(("127.0.0.1", tcp_port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rows = []
    with running_daemon() as endpoint, Client(endpoint, name="bench", timeout=60) as client:
        client.hello()
        for size in (int(s) for s in args.sizes.split(",")):
            pixels = canvas(size)
            image = ImageData.from_numpy(pixels)

            def via_muselink():
                out = client.run("debug.echo", {"image": image}, timeout=120).payloads["image"].to_numpy()
                assert out.shape == pixels.shape

            def via_raw_tcp():
                raw.sendall(struct.pack("!Q", pixels.nbytes))
                raw.sendall(memoryview(pixels).cast("B"))
                (n,) = struct.unpack("!Q", _recv_exact(raw, 8))
                out = np.frombuffer(_recv_exact(raw, n), np.uint8).reshape(pixels.shape)
                assert out.shape == pixels.shape

            def via_png_http():
                body = io.BytesIO()
                Image.fromarray(pixels).save(body, format="PNG")
                conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=300)
                conn.request("POST", "/echo", body.getvalue(), {"Content-Type": "image/png"})
                reply = conn.getresponse().read()
                conn.close()
                out = np.asarray(Image.open(io.BytesIO(reply)))
                assert out.shape == pixels.shape

            repeat_png = max(1, args.repeat // 2) if size >= 4096 else args.repeat
            t_ml = median(timed(via_muselink, args.repeat))
            t_tcp = median(timed(via_raw_tcp, args.repeat))
            t_png = median(timed(via_png_http, repeat_png))
            rows.append([f"{size}x{size}", f"{pixels.nbytes / 1e6:.1f} MB", f"{t_ml * 1000:.1f}", f"{t_tcp * 1000:.1f}",
                         f"{t_png * 1000:.0f}", f"{t_ml / t_tcp:.2f}x", f"{t_png / t_ml:.0f}x"])
    raw.close()
    for proc in procs:
        proc.terminate()
    print("RGBA8 canvas round trip, median ms (targets: muselink <= 3x raw TCP, >= 50x faster than PNG+HTTP)")
    print(table(rows, ["canvas", "bytes", "muselink", "raw tcp", "png+http", "muselink/raw", "png+http/muselink"]))


if __name__ == "__main__":
    main()
