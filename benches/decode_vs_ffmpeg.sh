#!/usr/bin/env bash
# Decode speed: Busker's decoder (criterion bench `decode`) against ffmpeg on the same files.
#
#   bash benches/decode_vs_ffmpeg.sh            # both
#   SKIP_CRITERION=1 bash benches/decode_vs_ffmpeg.sh   # ffmpeg only
#
# ffmpeg decodes to the null muxer with one thread (the audio decoders are single-threaded, as
# symphonia is). Two ffmpeg figures are printed: the wall time of the whole process (hyperfine,
# or a loop with date +%s%N), which includes its start-up, and ffmpeg's own `-benchmark` rtime,
# which is the decode alone and the fair match for the in-process criterion figure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ffmpeg >/dev/null; then
    apt-get install -y ffmpeg
fi

files=(
    assets/audio/pg10284_spring_of_love_1903.id3v2_3.mp3
    assets/audio/opsound_manolo_camp-morning_coffee.tagged.flac
    assets/audio/opsound_manolo_camp-morning_coffee.tagged.ogg
)
runs=${RUNS:-10}

echo "== ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3)"
for f in "${files[@]}"; do
    # Decode-only time as ffmpeg reports it (median of the runs).
    rtimes=()
    for _ in $(seq "$runs"); do
        rt=$(ffmpeg -nostdin -hide_banner -threads 1 -benchmark -i "$f" -f null - 2>&1 \
            | sed -n 's/.*rtime=\([0-9.]*\)s.*/\1/p' | tail -1)
        rtimes+=("$rt")
    done
    median=$(printf '%s\n' "${rtimes[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$(basename "$f"): ffmpeg decode-only rtime median ${median}s over $runs runs"
    if command -v hyperfine >/dev/null; then
        hyperfine --warmup 2 --runs "$runs" --style basic --export-markdown /dev/stdout \
            "ffmpeg -nostdin -loglevel error -threads 1 -i $f -f null -" 2>/dev/null | tail -1
    else
        total=0
        for _ in $(seq "$runs"); do
            t0=$(date +%s%N)
            ffmpeg -nostdin -loglevel error -threads 1 -i "$f" -f null -
            t1=$(date +%s%N)
            total=$((total + t1 - t0))
        done
        echo "$(basename "$f"): ffmpeg process wall time mean $((total / runs / 1000000)) ms"
    fi
done

if [ -z "${SKIP_CRITERION:-}" ]; then
    echo "== busker (criterion, in-process, from bytes in memory)"
    cargo bench -p busker-benches --bench decode -- decode/ 2>&1 | grep -E '^decode/|time:|thrpt:'
fi
