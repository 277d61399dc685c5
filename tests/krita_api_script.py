"""Run by kritarunner (see test_krita_e2e.py): the Krita host adapter against the real Krita API, headless.

Usage: kritarunner -s krita_api_script -f __main__ <pykrita dir> <endpoint> <out.json>
"""
import json
import sys
import traceback


def __main__(args):
    pykrita, endpoint, out = args[0], args[1], args[2]
    report = {}
    try:
        sys.path.insert(0, pykrita)
        from krita import Krita, Selection
        from muselink_krita.deps import Client, Output, hostspec  # puts the add-on's _vendor on sys.path
        from muselink_krita.host.adapter import KritaAdapter
        from muselink_bridge.schema import InputSpec

        app = Krita.instance()
        current = []
        image_only, with_mask = (InputSpec("image", "image"),), (InputSpec("image", "image"), InputSpec("mask", "mask"))
        adapter = KritaAdapter(lambda: current[-1] if current else None)
        pm = hostspec.host_manager(adapter)
        report["host"] = pm.hook.muselink_host_info().name
        report["no_document"] = pm.hook.muselink_host_capture(request=hostspec.CaptureRequest("style.fast", "layer"))
        doc = app.createDocument(128, 96, "api", "RGBA", "U8", "", 72.0)
        current.append(doc)
        src = doc.rootNode().childNodes()[0]
        src.setPixelData(bytes((x * 2 % 256, y * 2 % 256, (x + y) % 256, 255)[i]
                               for y in range(96) for x in range(128) for i in range(4)), 0, 0, 128, 96)
        doc.setActiveNode(src)
        sel = Selection()
        sel.select(16, 8, 64, 48, 255)
        doc.setSelection(sel)
        doc.waitForDone()
        before = bytes(src.pixelData(0, 0, 128, 96))
        doc.refreshProjection()
        merged = pm.hook.muselink_host_capture(request=hostspec.CaptureRequest("style.fast", "merged", inputs=image_only))
        crop = bytes(doc.pixelData(16, 8, 64, 48))
        rgba = bytes(merged.payloads["image"].data)
        report["merged"] = [sorted(merged.payloads), list(merged.target.bounds),
                            rgba[0::4] == crop[2::4] and rgba[2::4] == crop[0::4] and rgba[1::2] == crop[1::2]]
        capture = pm.hook.muselink_host_capture(request=hostspec.CaptureRequest("style.fast", "layer", inputs=with_mask))
        report["payloads"] = {k: [v.width, v.height, v.channels] for k, v in capture.payloads.items()}
        report["bounds"] = list(capture.target.bounds)
        with Client(endpoint, name="kritarunner", timeout=20) as client:
            client.hello()
            result = client.run("style.fast", capture.payloads, {"style": "mosaic", "size": 128}, timeout=60)
        output = Output("image", "image", result.payloads["image"])
        applied = pm.hook.muselink_host_apply(capture=capture, output=output,
                                              meta={**result.meta, "capability": "style.fast", "params": {}, "live": False},
                                              replace=None)
        again = pm.hook.muselink_host_apply(capture=capture, output=output,
                                            meta={"capability": "style.fast", "params": {}, "live": False}, replace=None)
        report["applied"] = [applied.kind, applied.name, again.name]
        report["layers"] = [n.name() for n in doc.rootNode().childNodes()]
        layer = applied.handle.node
        data = bytes(layer.pixelData(0, 0, 128, 96))
        alpha_outside = [data[(y * 128 + x) * 4 + 3] for y in range(96) for x in range(128)
                         if not (16 <= x < 80 and 8 <= y < 56)]
        report["alpha_outside_max"] = max(alpha_outside)
        report["alpha_inside_min"] = min(data[(y * 128 + x) * 4 + 3] for y in range(8, 56) for x in range(16, 80))
        report["source_identical"] = bytes(src.pixelData(0, 0, 128, 96)) == before
        deep = app.createDocument(32, 32, "deep", "RGBA", "U16", "", 72.0)
        current.append(deep)
        deep.setActiveNode(deep.rootNode().childNodes()[0])
        try:
            pm.hook.muselink_host_capture(request=hostspec.CaptureRequest("style.fast", "layer"))
            report["u16"] = "accepted"
        except ValueError as exc:
            report["u16"] = str(exc)
        for d in (doc, deep):
            d.setModified(False)
    except Exception:
        report["error"] = traceback.format_exc()
    with open(out, "w") as fh:
        json.dump(report, fh, indent=1, default=str)
