"""The video half of clip reading: one seek per run of windows, frames chosen by presentation time.

A run's targets (the frame times of all its windows, in stream ticks) are met in order from one seek to the
keyframe before the first. Packets are demuxed a little ahead, decoding restarts at the last keyframe before a
target when that is cheaper than decoding forward, and packets no open target needs are decoded with
``skip_frame = NONREF`` so the decoder drops non-reference frames. Packets the decoder rejects before a wanted
frame (MPEG-PS/TS/VOB after a seek) are skipped and counted; a wanted frame that cannot be decoded fails the
window. Frames are scaled in the decoder's reformatter to ``video_geometry.display_size``.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from data_modules.clip_spec import ReadContext
from data_modules.video_geometry import display_size, frame_rate

LOOKAHEAD_SECONDS = Fraction(1, 2)
"""Demux this far beyond a frame before deciding whether it is needed: longer than any B-frame reordering."""


class VideoDecoder:
    """Forward decoding of one video stream, choosing frames by timestamp and skipping what nobody needs."""

    def __init__(self, reader: ReadContext, stream: av.video.stream.VideoStream, origin: Fraction) -> None:
        self.reader = reader
        self.stream = stream
        self.cc = stream.codec_context
        self.tb = Fraction(stream.time_base)
        self.origin = origin
        self.size = display_size(stream, reader.spec.short_side)
        start = stream.start_time
        self.first_ticks = start if start is not None else None
        self.nominal_ticks = max(1, math.ceil(1 / (frame_rate(stream) * self.tb)))
        self.lookahead = max(1, math.ceil(LOOKAHEAD_SECONDS / self.tb))
        self.offsets = reader.spec.frame_offsets()
        self.reformatter = av.video.reformatter.VideoReformatter()  # keeps its scaler between frames

    def read_run(self, run: list[int], out: np.ndarray) -> None:
        windows = self.reader.windows
        targets = sorted(
            (math.floor((self.origin + windows[w] + off) / self.tb), w, i)
            for w in run
            for i, off in enumerate(self.offsets)
        )
        _VideoRun(self, targets, out).decode()

    def ticks_to_title(self, ticks: int) -> Fraction:
        return ticks * self.tb - self.origin

    def convert(self, frame: av.VideoFrame) -> np.ndarray:
        height, width = self.size
        self.reader.stats.frames_returned += 1
        rgb = self.reformatter.reformat(
            frame, width=width, height=height, format="rgb24", interpolation="AREA"
        )
        return rgb.to_ndarray()


class _VideoRun:
    """One seek, then packets demuxed ahead, fed from the last useful keyframe, frames matched to targets.

    A target (threshold ``th`` in stream ticks) takes the last frame with ``pts <= th``. A packet is needed only
    if some open target falls between its pts and the next known pts; all others are decoded with
    ``skip_frame = NONREF``, so the decoder drops the non-reference ones and still keeps the references right.
    """

    def __init__(self, dec: VideoDecoder, targets: list[tuple[int, int, int]], out: np.ndarray) -> None:
        self.dec = dec
        self.cc = dec.cc
        self.stats = dec.reader.stats
        self.ths = [t[0] for t in targets]
        self.slots = [(t[1], t[2]) for t in targets]
        self.out = out
        self.ti = 0
        self.cand: av.VideoFrame | None = None
        self.cand_end = 0
        self.converted: tuple[av.VideoFrame | None, np.ndarray | None] = (None, None)
        self.pending: deque[av.Packet] = deque()
        self.seen: list[int] = []
        self.packets: Iterator[av.Packet] = iter(())
        self.eof = False
        self.fed = False
        self.skipping = False

    def decode(self) -> None:
        try:
            self._decode()
        finally:
            self._set_skip(False)

    def window_time(self) -> Fraction:
        """Title start of the window whose frame is being looked for: what errors report."""
        return self.dec.reader.windows[self.slots[min(self.ti, len(self.slots) - 1)][0]]

    def _decode(self) -> None:
        self.cc.skip_frame = "DEFAULT"
        self._seek(self.ths[0])
        drained = False
        while self.ti < len(self.ths):
            th = self.ths[self.ti]
            self._demux_until(th + self.dec.lookahead)
            self._jump_to_keyframe(th)
            current = self.ti
            while self.ti == current:
                if self.pending:
                    packet = self.pending.popleft()
                    if packet.pts is not None:
                        self._demux_until(packet.pts + self.dec.lookahead)
                    needed = self._needed(packet.pts)
                    self._set_skip(not needed)
                    frames = self._decode_packet(packet, needed)
                    self.fed = True
                    self.stats.video_packets += 1
                elif not self.eof:
                    self._demux_one()
                    continue
                elif not drained:
                    self._set_skip(False)
                    frames = self.cc.decode(None)
                    drained = True
                else:
                    self._finish_at_end()
                    return
                for frame in frames:
                    self._take(frame)

    def _decode_packet(self, packet: av.Packet, needed: bool) -> list[av.VideoFrame]:
        """Decode one packet; one the decoder rejects is skipped (pre-roll after a seek) unless a target needs it."""
        try:
            return self.cc.decode(packet)
        except av.error.InvalidDataError:
            if needed:
                at = "" if packet.pts is None else f" at {float(self.dec.ticks_to_title(packet.pts)):.3f} s"
                raise self.dec.reader.fail(
                    self.window_time(), f"the video frame{at} cannot be decoded (damaged data)"
                ) from None
            self.stats.packets_skipped += 1
            return []

    def _seek(self, th: int) -> None:
        """Seek to the keyframe at or before ``th``; demuxers that land on a later keyframe are walked back."""
        ts = th
        first = self.dec.first_ticks
        while True:
            self.dec.reader.container.seek(ts, stream=self.dec.stream, backward=True, any_frame=False)
            self.stats.seeks += 1
            self.cc.flush_buffers()
            self.fed = False
            self.pending.clear()
            self.seen = []
            self.eof = False
            self.packets = iter(self.dec.reader.container.demux(self.dec.stream))
            key = self._first_keyframe()
            at_start = first is None or ts <= first
            if key is None:
                if at_start:
                    raise self.dec.reader.fail(self.window_time(), "no decodable video (no keyframe found)")
            elif key.pts is None or key.pts <= th or at_start:
                return
            anchor = None if key is None else (key.dts if key.dts is not None else key.pts)
            ts = (
                min(ts - self.dec.lookahead, anchor - 1)
                if anchor is not None
                else ts - 2 * self.dec.lookahead
            )

    def _first_keyframe(self) -> av.Packet | None:
        """Drop packets before the first keyframe after a seek: nothing before it can be decoded."""
        while not self.eof:
            self._demux_one()
            while self.pending and not self.pending[0].is_keyframe:
                self.pending.popleft()
            if self.pending:
                return self.pending[0]
        return None

    def _demux_one(self) -> None:
        packet = next(self.packets, None)
        if packet is None or packet.size == 0:
            self.eof = True
            return
        self.pending.append(packet)
        if packet.pts is not None:
            bisect.insort(self.seen, packet.pts)

    def _demux_until(self, ticks: int) -> None:
        while not self.eof and (not self.seen or self.seen[-1] <= ticks):
            self._demux_one()

    def _jump_to_keyframe(self, th: int) -> None:
        """Start decoding at the last keyframe at or before the target: everything earlier is superseded."""
        last = None
        for i, packet in enumerate(self.pending):
            if packet.is_keyframe and packet.pts is not None and packet.pts <= th:
                last = i
        if last is None or (last == 0 and not self.fed):
            return
        for _ in range(last):
            self.pending.popleft()
        if self.fed:
            self.cc.flush_buffers()
            self.fed = False
        self.cand = None

    def _needed(self, pts: int | None) -> bool:
        if pts is None:
            return True
        j = bisect.bisect_left(self.ths, pts, lo=self.ti)
        if j >= len(self.ths):
            return False
        k = bisect.bisect_right(self.seen, pts)
        return k >= len(self.seen) or self.ths[j] < self.seen[k]

    def _set_skip(self, skip: bool) -> None:
        if skip != self.skipping:
            self.cc.skip_frame = "NONREF" if skip else "DEFAULT"
            self.skipping = skip

    def _take(self, frame: av.VideoFrame) -> None:
        """Match one decoded frame (in presentation order) against the open targets."""
        self.stats.frames_decoded += 1
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            raise self.dec.reader.fail(self.window_time(), "decoded video frames carry no timestamps")
        while self.ti < len(self.ths) and pts > self.ths[self.ti]:
            self._assign(self.cand if self.cand is not None else frame)
        if self.ti < len(self.ths):
            self.cand = frame
            duration = getattr(frame, "duration", None) or self.dec.nominal_ticks
            self.cand_end = pts + max(duration, self.dec.nominal_ticks)

    def _assign(self, frame: av.VideoFrame) -> None:
        if self.converted[0] is not frame:
            self.converted = (frame, self.dec.convert(frame))
        w, i = self.slots[self.ti]
        self.out[w, i] = self.converted[1]
        self.ti += 1

    def _finish_at_end(self) -> None:
        """The stream ended: the last frame stays on screen for its duration, later targets are past the end."""
        while self.ti < len(self.ths):
            th = self.ths[self.ti]
            if self.cand is None or th >= self.cand_end:
                end = self.dec.ticks_to_title(self.cand_end) if self.cand is not None else None
                where = (
                    f"the video stream ends at {float(end):.3f} s (past its end, or the file is truncated or corrupt)"
                    if end is not None
                    else "no video frames could be decoded"
                )
                wanted = float(self.dec.ticks_to_title(th))
                raise self.dec.reader.fail(
                    self.window_time(), f"{where}, before the frame wanted at {wanted:.3f} s"
                )
            self._assign(self.cand)
