"""The report steps the peer-vs-quasar scripts share (tunnel.sh, proxy.sh): per-round rows
of each side, and the request and bulk-transfer table rows."""
import os
import statistics as st

SIDES = ("peer", "quasar")


def rows(work, name):
    """The rounds of NAME for each side: WORK/NAME.peer and WORK/NAME.quasar, a line of numbers each."""
    out = {}
    for side in SIDES:
        with open(os.path.join(work, f"{name}.{side}")) as f:
            out[side] = [list(map(float, line.split())) for line in f if line.strip()]
    return out


def request_row(label, r):
    """A table row of request rounds ("rps rps_per_cpu p99_us errors" per round)."""
    med = lambda side, i: st.median(x[i] for x in r[side])
    ratios = [q[1] / pe[1] for q, pe in zip(r["quasar"], r["peer"]) if pe[1] > 0]
    errs = int(sum(x[3] for s in r.values() for x in s))
    return (f"| {label} | {med('peer',0):,.0f} | {med('quasar',0):,.0f} | "
            f"{med('peer',1):,.0f} | {med('quasar',1):,.0f} | {med('quasar',1)/med('peer',1):.2f}x | "
            f"{min(ratios):.2f}-{max(ratios):.2f} | {med('peer',2):,.0f} | {med('quasar',2):,.0f} | {errs} |")


REQUEST_HEADER = ("| row | peer req/s | quasar req/s | peer req/CPU-s | quasar req/CPU-s | ratio (CPU) "
                  "| spread | peer p99 µs | quasar p99 µs | errors |\n|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")


def print_bulk(work, label):
    """The bulk-transfer table (WORK/bulk.SIDE: "bytes_per_cpu_second seconds" per round)."""
    r = rows(work, "bulk")
    mb = lambda side: st.median(x[0] for x in r[side]) / 1e6
    secs = lambda side: st.median(x[1] for x in r[side])
    ratios = [q[0] / pe[0] for q, pe in zip(r["quasar"], r["peer"])]
    print()
    print(f"| {label} | peer MB relayed / CPU-s | quasar MB relayed / CPU-s | ratio | spread | peer s | quasar s |")
    print("|---|---:|---:|---:|---|---:|---:|")
    print(f"| | {mb('peer'):,.0f} | {mb('quasar'):,.0f} | {mb('quasar')/mb('peer'):.2f}x | "
          f"{min(ratios):.2f}-{max(ratios):.2f} | {secs('peer'):.2f} | {secs('quasar'):.2f} |")
