"""A worker: no port, it just runs, and says so in the logs."""

import os
import time

tick = 0
while True:
    tick += 1
    print(f"tick {tick} from {os.environ.get('DYNO')}", flush=True)
    time.sleep(0.2)
