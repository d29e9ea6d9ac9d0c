"Helpers shared by the benchmark scripts (run them as `python bench/<name>.py`, which puts this folder on sys.path)."
import resource, statistics, time, warnings

def interleaved_median(fns:dict, reps:int, warm:int=1, faults:dict|None=None)->dict:
    "Median seconds per call of each function, called in turn (A B A B ...) after `warm` warm-up calls each; `faults` gets the mean minor page faults per call."
    for f in fns.values():
        for _ in range(warm): f()
    ts, fl = {k: [] for k in fns}, {k: 0 for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.perf_counter(); f(); ts[k].append(time.perf_counter() - t)
            fl[k] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    if faults is not None: faults.update({k: round(v / reps) for k, v in fl.items()})
    return {k: statistics.median(v) for k, v in ts.items()}

def import_peer(load):
    "`(load(), 'anomalib <version>')`, where `load` imports something from anomalib; `(None, reason)` if that fails."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            obj = load()
            import anomalib
        return obj, f'anomalib {anomalib.__version__}'
    except Exception as e: return None, f'anomalib not importable ({type(e).__name__}: {e}); install the bench extra'
