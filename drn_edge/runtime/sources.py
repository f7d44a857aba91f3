"""Where frames come from: files, or live sources that OpenCV opens (what jetson-inference users expect).

drn-derain and drn-bench video take the same inputs: a video file, a camera index (0), /dev/videoN,
an rtsp:// or http(s):// URL (FFmpeg), or a GStreamer pipeline ending in appsink.
"""
from __future__ import annotations

import re
from pathlib import Path

from drn_edge.errors import ImageError

__all__ = ["URL_SCHEMES", "is_live_source", "open_live_source"]

URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


MAX_CAMERA_INDEX = 1023


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit()  # '²' is a Unicode digit that int() refuses


def _exists(text: str) -> bool:
    try:
        return Path(text).exists()
    except (OSError, ValueError):  # a name part over 255 bytes, or a NUL: not a file
        return False


def is_live_source(text: str) -> bool:
    """A camera index, /dev/videoN, a stream URL or a GStreamer pipeline: what jetson-inference and OpenCV open."""
    if _exists(text):
        return False  # a file named like a source is a file
    return (_is_index(text) or bool(re.fullmatch(r"/dev/video\d+", text)) or text.lower().startswith(URL_SCHEMES)
            or " ! " in text)


def open_live_source(source):
    """cv2.VideoCapture for a live source, or one error naming what the installed OpenCV build lacks."""
    import cv2

    if isinstance(source, int) or _is_index(str(source)):
        if not 0 <= int(source) <= MAX_CAMERA_INDEX:
            raise ImageError(f"camera index {source} is out of range: give 0 to {MAX_CAMERA_INDEX}, or /dev/videoN")
        cap = cv2.VideoCapture(int(source))
    elif " ! " in str(source):
        cap = cv2.VideoCapture(str(source), cv2.CAP_GSTREAMER)
        if not cap.isOpened():
            info = cv2.getBuildInformation()
            gst = "GStreamer:" in info and "GStreamer:                   YES" in info
            raise ImageError(f"cannot open the GStreamer pipeline {source!r}" + (
                "" if gst else ": this OpenCV build has no GStreamer support (opencv-python wheels lack it); use "
                "the Jetson image's OpenCV (built with GStreamer) or an rtsp:// URL"))
    else:
        try:
            cap = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG if "://" in str(source) else cv2.CAP_ANY)
        except (cv2.error, OverflowError, ValueError, UnicodeError) as exc:
            raise ImageError(f"cannot open camera or stream {str(source)[:200]!r}: {type(exc).__name__}") from None
    if not cap.isOpened():
        raise ImageError(f"cannot open camera or stream {source!r}: check the device, URL and credentials "
                         "(OpenCV opens /dev/videoN, indices, and rtsp/http URLs through FFmpeg)")
    return cap
