"""style.fast and style.arbitrary through a real daemon: sizes, alpha, masks, blends."""
import numpy as np
import pytest
from skimage import data

from muselink.bridge.client import JobFailed
from muselink.bridge.payloads import ImageData


@pytest.fixture(scope="module")
def photo():
    rgb = data.astronaut()[::2, ::2]  # 256x256
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    return np.dstack([rgb, alpha])


def stylize(client, photo, params=None, **payloads):
    result = client.run("style.fast", {"image": ImageData.from_numpy(photo), **payloads}, params or {}, timeout=60)
    return result, result.payloads["image"].to_numpy()


def test_output_has_the_input_size_and_keeps_alpha(shared_client, photo):
    """An odd-sized RGBA input comes back the same size, with its alpha channel untouched."""
    odd = np.ascontiguousarray(photo[:201, :177])
    _, out = stylize(shared_client, odd, {"style": "mosaic"})
    assert out.shape == odd.shape
    assert np.array_equal(out[:, :, 3], odd[:, :, 3])
    assert np.abs(out[:, :, :3].astype(int) - odd[:, :, :3]).mean() > 10  # it really changed


def test_large_input_is_processed_at_working_size_and_returned_full_size(shared_client, photo):
    """A bigger-than-working-size image is stylized at `size` and returned at its own size."""
    big = np.ascontiguousarray(np.tile(photo, (3, 3, 1)))  # 768x768
    result, out = stylize(shared_client, big, {"size": 256})
    assert out.shape == big.shape and result.meta["params"]["size"] == 256


def test_pixels_outside_the_mask_are_unchanged(shared_client, photo):
    """Only masked pixels change; everything outside is bit-identical."""
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[64:192, 32:128] = 255
    _, out = stylize(shared_client, photo, {"style": "cyanotype"}, mask=ImageData.from_numpy(mask))
    outside = mask == 0
    assert np.array_equal(out[outside], photo[outside])
    assert np.abs(out[~outside][:, :3].astype(int) - photo[~outside][:, :3]).mean() > 10


def test_blended_styles_differ_from_each_single_style(shared_client, photo):
    """A weights blend is a real mix: it differs from both of its ingredients."""
    _, a = stylize(shared_client, photo, {"style": "mosaic"})
    _, b = stylize(shared_client, photo, {"style": "pastel"})
    result, mix = stylize(shared_client, photo, {"weights": "mosaic:0.5,pastel:0.5"})
    assert result.meta["styles"] == {"pastel": 0.5, "mosaic": 0.5}
    assert np.abs(mix.astype(int) - a).mean() > 3 and np.abs(mix.astype(int) - b).mean() > 3


def test_strength_zero_returns_the_original(shared_client, photo):
    """strength=0 mixes nothing in."""
    _, out = stylize(shared_client, photo, {"strength": 0})
    assert np.array_equal(out, photo)


def test_arbitrary_style_uses_the_style_image(shared_client, photo):
    """Two different style pictures give clearly different results of the input's size."""
    outs = []
    for style in (data.coffee(), data.chelsea()):
        result = shared_client.run("style.arbitrary", {"image": ImageData.from_numpy(photo),
                                                "style": ImageData.from_numpy(style)}, timeout=60)
        outs.append(result.payloads["image"].to_numpy())
    assert outs[0].shape == photo.shape
    assert np.abs(outs[0].astype(int) - outs[1]).mean() > 5


def test_mask_of_the_wrong_size_is_a_clear_error(shared_client, photo):
    """A mask that does not match the image names both sizes."""
    with pytest.raises(JobFailed, match="'mask' is 10x10 but the image is 256x256"):
        stylize(shared_client, photo, mask=ImageData.from_numpy(np.zeros((10, 10), np.uint8)))


def test_a_16_bit_style_image_is_refused_by_its_input_name(shared_client, photo):
    """A 16-bit picture is refused (not misread), and the error names the input it came in on."""
    deep = (data.coffee().astype(np.uint16) * 257)
    with pytest.raises(JobFailed, match="input 'style' must be 8-bit"):
        shared_client.run("style.arbitrary", {"image": ImageData.from_numpy(photo),
                                              "style": ImageData.from_numpy(deep)}, timeout=60)
