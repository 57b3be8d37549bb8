"""The audio half of clip reading: decode from a pre-roll before each run of windows, resample, place in time.

Audio is placed by counting samples from a segment's first timestamp, never by each frame's own timestamp:
demuxers hand out timestamps that wobble while the samples run on without a break (Matroska rounds them to the
millisecond; Ogg Vorbis frames jump by a few ms at block-size switches and come back). Timestamps only decide
where a segment starts and whether the audio really broke off: a jump larger than ``AUDIO_JUMP_SECONDS``, or a
smaller shift that does not come back within ``AUDIO_SETTLE_SECONDS``, or a packet the decoder rejected. After
a seek, MPEG program streams hand out packets the decoder rejects until the parser has found its feet again;
those are skipped (as FFmpeg's tools skip them), and a pre-roll they swallow is retried from further back, so
a window only fails when its samples really cannot be produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from data_modules.clip_spec import ReadContext

AUDIO_PREROLL_SECONDS = Fraction(1, 5)
"""Audio decoders need a few packets after a seek before their output is right (AAC overlap, Opus pre-roll)."""

AUDIO_MAX_PREROLL_SECONDS = Fraction(8)
"""Furthest back a seek goes to find decodable audio before a window (the pre-roll grows 4x per retry)."""

AUDIO_PAD_SECONDS = Fraction(1, 100)
"""At most this much missing audio in a window (stream end, rounded timestamps) is filled with zeros."""

AUDIO_JITTER_SECONDS = Fraction(3, 1000)
"""Audio timestamps this close to the running sample count are on time (1 ms rounding in Matroska)."""

AUDIO_JUMP_SECONDS = Fraction(1, 10)
"""A timestamp this far from the sample count is a discontinuity at once (Vorbis jitter stays under 50 ms)."""

AUDIO_SETTLE_SECONDS = Fraction(1)
"""A smaller shift is a discontinuity only if it lasts this long (longer than an Ogg page, which ends jitter)."""


class AudioDecoder:
    """Audio of one stream for a run of windows: decoded, resampled to mono, placed by sample count."""

    def __init__(
        self,
        reader: ReadContext,
        stream: av.audio.stream.AudioStream,
        origin: Fraction,
        stream_start: Fraction,
    ) -> None:
        self.reader = reader
        self.stream = stream
        self.cc = stream.codec_context
        self.tb = Fraction(stream.time_base)
        self.origin = origin
        self.stream_start = stream_start
        self.rate = reader.spec.sample_rate
        self.samples = reader.spec.audio_samples

    def read_run(self, run: list[int], out: np.ndarray) -> None:
        windows = self.reader.windows
        starts = [(self.origin + windows[w], w) for w in run]
        first = min(s for s, _ in starts)
        last_end = max(s for s, _ in starts) + self.reader.spec.slot_seconds
        preroll = AUDIO_PREROLL_SECONDS
        while True:
            placer = _AudioPlacer(self, starts, out, last_end)
            outcome = self._decode(placer, first, preroll)
            if (
                outcome != "late"
                or first - preroll <= self.stream_start
                or preroll >= AUDIO_MAX_PREROLL_SECONDS
            ):
                break
            preroll = min(preroll * 4, AUDIO_MAX_PREROLL_SECONDS)
        if outcome != "done":
            placer.close()
        self._check(placer, ended=outcome != "done")

    def _decode(self, placer: _AudioPlacer, first: Fraction, preroll: Fraction) -> str:
        """Feed the placer from a seek ``preroll`` before ``first``; say "done", "ended" or "late".

        "late": packets the decoder rejected swallowed the pre-roll, the first good samples come after ``first``.
        """
        stats = self.reader.stats
        rejected = 0
        for packet in self._packets_from(first, preroll):
            try:
                frames = self.cc.decode(packet if packet.size else None)
            except av.error.InvalidDataError:
                stats.packets_skipped += 1
                rejected += 1
                placer.lost()
                continue
            for frame in frames:
                stats.audio_frames_decoded += 1
                if rejected and not placer.started and frame.pts is not None and frame.pts * self.tb > first:
                    return "late"
                if placer.feed(frame):
                    return "done"
        return "ended"

    def _packets_from(self, time: Fraction, preroll: Fraction) -> Iterator[av.Packet]:
        """Packets from ``preroll`` before ``time``; a demuxer landing after ``time`` is asked again, further back.

        The pre-roll may reach before the stream's declared start: the packets there are the encoder's priming
        (an MP4 AAC stream starting at 0 has one at -1024), and the first samples of the title decode right
        only after them, just as the decoder's initial skip (Matroska's codec delay) must fall on them and not
        on the title's first samples. A demuxer that refuses such a time (AVI: EPERM) is asked for the start.
        """
        container = self.reader.container
        start = self.stream.start_time
        floor = start if start is not None else 0
        ts = math.floor((time - preroll) / self.tb)
        back = max(1, math.ceil(1 / self.tb))
        while True:
            try:
                container.seek(ts, stream=self.stream, backward=True)
            except av.error.FFmpegError:
                if ts >= floor:
                    raise
                ts = floor
                container.seek(ts, stream=self.stream, backward=True)
            self.reader.stats.seeks += 1
            self.cc.flush_buffers()
            packets = container.demux(self.stream)
            head = next(packets, None)
            if head is None:
                return
            if head.pts is None or head.pts * self.tb <= time or start is None or ts <= start:
                yield head
                yield from packets
                return
            ts = max(floor, ts - back)
            back *= 2

    def _check(self, placer: _AudioPlacer, ended: bool) -> None:
        """Missing audio is an error, except a few ms of rounding, and one frame's worth where the stream ended.

        Matroska stores no per-stream durations and the last packet of a cut file may not decode, so a title's
        end can lie up to one audio frame past the last decoded sample; the last slot gets that much silence.
        """
        allowed = int(AUDIO_PAD_SECONDS * self.rate)
        at_end = allowed + (math.ceil(placer.longest_frame * self.rate) if ended else 0)
        for start, w in placer.starts:
            filled = placer.filled[w]
            covered = np.flatnonzero(filled)
            tail = self.samples - (int(covered[-1]) + 1) if covered.size else self.samples
            inner = self.samples - covered.size - tail
            if inner > allowed or tail > at_end:
                got = (
                    f"audio only for [{covered[0] / self.rate:.3f}, {(covered[-1] + 1) / self.rate:.3f}) s of the window"
                    if covered.size
                    else "no audio in the window"
                )
                missing = (self.samples - covered.size) / self.rate * 1000
                raise self.reader.fail(
                    start - self.origin,
                    f"{got} ({missing:.0f} ms missing: the audio stream ends early, has a gap, or is corrupt)",
                )


_AS_IS = frozenset({"flt", "fltp", "s16", "s16p"})
"""Mono sample formats that need no resampler at the target rate (AAC, Vorbis, Opus decode to fltp; PCM s16)."""


class _AsIs:
    """The resampler of a segment already mono at the target rate: its frames pass unchanged.

    swresample would only copy them (s16 scaled by 1/32768, exactly as ``_place`` does), at a tenth of a
    training clip's decoding time; the samples are bit-identical either way (``tests/test_decoding.py``).
    """

    def resample(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        return [] if frame is None else [frame]


class _AudioPlacer:
    """Writes resampled audio into the windows of a run, placed by counting samples.

    Contiguous frames share one resampler (a segment) and are placed by counting samples from the segment's
    first timestamp. A frame whose timestamp is off the count by more than the jitter is held back (with the
    frames after it) until the shift either comes back, when the held frames were on time after all, or lasts
    ``AUDIO_SETTLE_SECONDS``, when a new segment starts at the first held frame; a jump beyond
    ``AUDIO_JUMP_SECONDS``, a lost packet or a format change starts one at once. Integer arithmetic in stream
    ticks keeps the per-frame work cheap.
    """

    def __init__(
        self, dec: AudioDecoder, starts: list[tuple[Fraction, int]], out: np.ndarray, last_end: Fraction
    ) -> None:
        self.dec = dec
        self.starts = starts
        self.out = out
        self.last_end = last_end
        self.filled = {w: np.zeros(dec.samples, dtype=bool) for _, w in starts}
        self.num, self.den = dec.tb.numerator, dec.tb.denominator
        self.resampler: av.AudioResampler | _AsIs | None = None
        self.key: tuple = ()
        self.pts0 = 0
        self.in_rate = 1
        self.in_count = 0
        self.out_count = 0
        self.need_out = 0
        self.jitter = 0
        self.jump = 0
        self.held: list[av.AudioFrame] = []
        self.held_samples = 0
        self.broken = False
        self.started = False
        self.offsets: list[tuple[int, int]] = []
        self.longest_frame = Fraction(0)

    def feed(self, frame: av.AudioFrame) -> bool:
        """Place (or hold) one decoded frame; True once every window of the run is covered."""
        key = (frame.sample_rate, frame.layout.name, frame.format.name)
        if self.resampler is not None and (key != self.key or self.broken):
            self.close()
        self.broken = False
        if self.resampler is None:
            self._open(frame, key)
            self._push(frame)
            return self._done()
        drift = self._drift(frame.pts)
        if abs(drift) <= self.jitter:
            self._release()
            self._push(frame)
        elif abs(drift) > self.jump:
            self.close()
            self._open(frame, key)
            self._push(frame)
        else:
            self.held.append(frame)
            self.held_samples += frame.samples
            if self.held_samples >= AUDIO_SETTLE_SECONDS * self.in_rate:
                held, self.held, self.held_samples = self.held, [], 0
                self.close()
                self._open(held[0], key)
                for f in held:
                    self._push(f)
        return self._done()

    def lost(self) -> None:
        """A packet could not be decoded: the next frame's own timestamp says where the audio goes on."""
        self.broken = self.resampler is not None

    def close(self) -> None:
        """End the segment: held frames go where the sample count puts them, the resampler's delay drains."""
        if self.resampler is not None:
            self._release()
            for chunk in self.resampler.resample(None):
                self._place(chunk)
            self.resampler = None

    def _done(self) -> bool:
        return self.out_count >= self.need_out and not self.held

    def _drift(self, pts: int | None) -> int:
        """How far ``pts`` lies from where the count puts the next frame, in ticks x input rate (0: unknown)."""
        if pts is None:
            return 0
        counted = self.in_count + self.held_samples
        return (pts - self.pts0) * self.num * self.in_rate - counted * self.den

    def _release(self) -> None:
        held, self.held, self.held_samples = self.held, [], 0
        for frame in held:
            self._push(frame)

    def _open(self, frame: av.AudioFrame, key: tuple) -> None:
        if frame.pts is None:
            raise self.dec.reader.fail(self.dec.reader.current, "decoded audio frames carry no timestamps")
        rate = self.dec.rate
        t0 = frame.pts * self.dec.tb
        self.pts0, self.in_rate, self.key = frame.pts, frame.sample_rate, key
        self.in_count = self.out_count = 0
        self.jitter = math.floor(AUDIO_JITTER_SECONDS * self.den * self.in_rate)
        self.jump = math.floor(AUDIO_JUMP_SECONDS * self.den * self.in_rate)
        self.need_out = math.ceil((self.last_end - t0) * rate)
        self.offsets = [(round((t0 - start) * rate), w) for start, w in self.starts]
        if frame.sample_rate == rate and frame.layout.nb_channels == 1 and frame.format.name in _AS_IS:
            self.resampler = _AsIs()
        else:
            self.resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        self.started = True

    def _push(self, frame: av.AudioFrame) -> None:
        self.in_count += frame.samples
        if frame.samples > self.longest_frame * frame.sample_rate:
            self.longest_frame = Fraction(frame.samples, frame.sample_rate)
        for chunk in self.resampler.resample(frame):
            self._place(chunk)

    def _place(self, chunk: av.AudioFrame) -> None:
        samples = chunk.to_ndarray().reshape(-1)
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / np.float32(32768)
        k0 = self.out_count
        self.out_count += samples.size
        size = self.dec.samples
        for base, w in self.offsets:
            lo = base + k0
            hi = lo + samples.size
            if hi <= 0 or lo >= size:
                continue
            a, b = max(lo, 0), min(hi, size)
            self.out[w, a:b] = samples[a - lo : b - lo]
            self.filled[w][a:b] = True
