"""How often `digits.explain.digit_count` says "several digits": on 2,000 single MNIST test digits
(should be never) and on 200 numbers of 2-5 MNIST test digits side by side, 2 px overlapping to
3 px apart (should be always). `python bench/several_digits.py`."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np
from digits.data import load_test
from digits.explain import digit_count
t = load_test()
counts = [digit_count(np.kron(t.images[i], np.ones((4,4),np.uint8))) for i in range(2000)]
print("single digits counted >1:", sum(c > 1 for c in counts), "of 2000", {c: counts.count(c) for c in set(counts)})
rng = np.random.default_rng(0)
ok = 0; res=[]
for trial in range(200):
    n = rng.integers(2, 6)
    idx = rng.integers(0, 10000, n)
    gap = rng.integers(-2, 4)
    parts = []
    for i in idx:
        im = t.images[i]; cols = np.flatnonzero(im.max(0) > 60); parts.append(im[:, cols[0]:cols[-1]+1])
        parts.append(np.zeros((28, max(0,gap)), np.uint8))
    img = np.pad(np.concatenate(parts, 1), 8)
    c = digit_count(np.kron(img, np.ones((3,3),np.uint8)))
    res.append((n, c)); ok += c > 1
print("numbers counted >1:", ok, "of 200; exact:", sum(a==b for a,b in res))
