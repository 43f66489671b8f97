"""Every registry model through the real `replicate` client, checked by decoding the real files."""

from __future__ import annotations

import base64
import io
import json

import av
import httpx
import pytest
import replicate
from PIL import Image, ImageChops

from tests.fixtures.sandbox import SANDBOX_TOKEN
from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.sandbox import RunningSandbox
from vsl_pipelines.settings import PROJECT_ROOT

SDXL = "stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"
SVD = (
    "stability-ai/stable-video-diffusion:"
    "3f0457e4619daac51203dedb472816fd4af51f3149fa7a9e0b5ffcf1b8172438"
)
MUSICGEN = "meta/musicgen:671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb"
TEXT_VIDEO = "sandbox-tests/text-video:" + "ab" * 32


def finished(prediction: replicate.prediction.Prediction) -> replicate.prediction.Prediction:
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    return prediction


def fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    response.raise_for_status()
    return response.content


def probe_video(content: bytes) -> dict[str, object]:
    with av.open(io.BytesIO(content)) as container:
        video = container.streams.video[0]
        frames = [frame.to_image() for frame in container.decode(video=0)]
        return {
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "size": (video.width, video.height),
            "fps": float(video.average_rate),
            "frames": len(frames),
            "audio": [(a.codec_context.name, a.rate, a.channels) for a in container.streams.audio],
            "first": frames[0],
            "last": frames[-1],
        }


def visibly_different(first: Image.Image, last: Image.Image) -> bool:
    difference = ImageChops.difference(first.convert("L"), last.convert("L"))
    histogram = difference.histogram()
    changed = sum(histogram[16:])
    return changed > 0.02 * first.width * first.height


def test_flux_by_name_renders_num_outputs_images_of_the_aspect_ratio(
    replicate_client: replicate.Client,
) -> None:
    prediction = replicate_client.models.predictions.create(
        model="black-forest-labs/flux-schnell",
        input={
            "prompt": "a red bicycle",
            "aspect_ratio": "1:1",
            "num_outputs": 2,
            "output_format": "webp",
        },
    )
    assert prediction.status == "starting"
    assert len(prediction.version) == 64
    finished(prediction)
    assert len(prediction.output) == 2
    for url in prediction.output:
        image = Image.open(io.BytesIO(fetch(url)))
        assert (image.format, image.size) == ("WEBP", (1024, 1024))
    assert prediction.metrics["predict_time"] > 0
    assert "seed" in prediction.logs


def test_sdxl_by_version_uses_width_height_and_the_seed_changes_the_picture(
    replicate_client: replicate.Client,
) -> None:
    images = []
    for seed in (1, 2):
        prediction = finished(
            replicate_client.predictions.create(
                version=SDXL,
                input={"prompt": "a lighthouse", "width": 768, "height": 512, "seed": seed},
            )
        )
        assert prediction.version == SDXL.split(":")[1]
        assert prediction.model == "stability-ai/sdxl"
        (url,) = prediction.output
        image = Image.open(io.BytesIO(fetch(url)))
        assert (image.format, image.size) == ("PNG", (768, 512))
        images.append(image.convert("RGB"))
    assert images[0].getpixel((0, 0)) != images[1].getpixel((0, 0))


def test_stable_video_from_a_sandbox_hosted_image_keeps_the_aspect_ratio(
    replicate_client: replicate.Client,
) -> None:
    still = finished(
        replicate_client.models.predictions.create(
            model="black-forest-labs/flux-schnell", input={"prompt": "a city at night"}
        )
    )
    assert Image.open(io.BytesIO(fetch(still.output[0]))).size == (1344, 768)
    video = finished(
        replicate_client.predictions.create(
            version=SVD,
            input={
                "input_image": still.output[0],
                "video_length": "14_frames_with_svd",
                "frames_per_second": 7,
            },
        )
    )
    assert isinstance(video.output, str) and video.output.endswith(".mp4")
    facts = probe_video(fetch(video.output))
    assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p"
    assert facts["size"] == (1024, 586)
    assert (facts["frames"], facts["fps"]) == (14, 7.0)
    assert facts["audio"] == []
    assert visibly_different(facts["first"], facts["last"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sizing_strategy", "expected_size"),
    [("crop_to_16_9", (1024, 576)), ("use_image_dimensions", (334, 252))],
)
def test_stable_video_from_a_data_uri_follows_the_sizing_strategy(
    replicate_client: replicate.Client, sizing_strategy: str, expected_size: tuple[int, int]
) -> None:
    picture = Image.new("RGB", (333, 251), (20, 90, 160))
    picture.paste((240, 200, 40), (100, 80, 230, 170))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    video = finished(
        replicate_client.predictions.create(
            version=SVD, input={"input_image": data_uri, "sizing_strategy": sizing_strategy}
        )
    )
    facts = probe_video(fetch(video.output))
    assert facts["size"] == expected_size
    assert (facts["frames"], facts["fps"]) == (25, 6.0)
    assert facts["audio"] == []


def test_stable_video_fails_clearly_when_the_image_cannot_be_downloaded(
    replicate_client: replicate.Client, sandbox: RunningSandbox
) -> None:
    missing = f"{sandbox.public_url}/files/nothing/here.png"
    prediction = replicate_client.predictions.create(version=SVD, input={"input_image": missing})
    prediction.wait()
    assert prediction.status == "failed"
    assert "could not download input_image" in prediction.error
    assert "404" in prediction.error


@pytest.mark.parametrize(("output_format", "codec"), [("wav", "pcm_s16le"), ("mp3", "mp3float")])
def test_musicgen_renders_exactly_duration_seconds_of_stereo_32khz(
    replicate_client: replicate.Client, output_format: str, codec: str
) -> None:
    prediction = finished(
        replicate_client.predictions.create(
            version=MUSICGEN,
            input={"prompt": "calm piano", "duration": 3, "output_format": output_format},
        )
    )
    assert prediction.output.endswith(f".{output_format}")
    with av.open(io.BytesIO(fetch(prediction.output))) as container:
        audio = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(audio=0))
        assert (audio.codec_context.name, audio.rate, audio.channels) == (codec, 32000, 2)
    if output_format == "wav":
        assert samples == 3 * 32000
    else:
        assert abs(samples / 32000 - 3) < 0.1


def test_text_to_video_model_from_a_registry_override(sandbox_factory) -> None:
    override = {
        "video": {
            "text-video": {
                "version": TEXT_VIDEO,
                "task": "text-to-video",
                "pricing": {"usd": 0.1, "per": "run"},
                "estimatedTime": 10,
                "supportedParams": ["prompt", "duration", "aspect_ratio", "resolution", "seed"],
                "defaults": {"duration": 5},
            }
        }
    }
    registry = load_registry(PROJECT_ROOT / "config" / "models.json", json.dumps(override))
    running = sandbox_factory(registry=registry)
    client = replicate.Client(api_token=SANDBOX_TOKEN, base_url=running.base_url)
    prediction = finished(
        client.predictions.create(
            version=TEXT_VIDEO,
            input={
                "prompt": "waves on a beach",
                "duration": 2,
                "aspect_ratio": "16:9",
                "resolution": "480p",
            },
        )
    )
    facts = probe_video(fetch(prediction.output))
    assert facts["size"] == (854, 480)
    assert (facts["frames"], facts["fps"]) == (48, 24.0)
    assert facts["audio"] == [("aac", 32000, 2)]
    assert visibly_different(facts["first"], facts["last"])  # type: ignore[arg-type]
