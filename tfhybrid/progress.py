"""A one-line progress bar on stderr, redrawn at most five times a second."""
import sys
import time


class ProgressBar:
    """`update(done)` redraws '[####....] done/total <unit>, rate/s'; the last update ends the line."""

    def __init__(self, total, unit="items", stream=None):
        self.total, self.unit, self.stream = max(int(total), 1), unit, stream or sys.stderr
        self.start, self.shown = time.time(), 0.0

    def update(self, done):
        now = time.time()
        if done < self.total and now - self.shown < 0.2:
            return
        self.shown = now
        width = 30
        filled = int(width * min(done, self.total) / self.total)
        rate = done / max(now - self.start, 1e-9)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {self.unit}, {rate:.1f}/s")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
