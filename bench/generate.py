"""Write a fixture of realistic step results for the benchmarks, as JSON Lines or JSON.

The data set has one organization, one API key (``BENCH_API_KEY``), three hot records with
many rows each and many small records with a few flow runs each. The same size and seed
always give the same file. Run ``python bench/generate.py --help`` for the options.
"""

import argparse
import json
import random
import sys
from datetime import datetime, timezone
from decimal import Decimal

BENCH_API_KEY = "bench-key-read"
ORGANIZATION_ID = "org_bench"
USER_IDS = ("user_bench_01", "user_bench_02", "user_bench_03", "user_bench_04")
HOT_RECORD_IDS = ("record_hot_1", "record_hot_2", "record_hot_3")
SMALL_RECORD_ID = "record_000001"
SEED = 20240601

# Hot record sizes at 100,000 rows and more. A smaller data set keeps the same three hot
# records but caps them at 60, 20 and 10 percent of its rows, so that every hot record
# still has more than 5,000 rows at 10,000 rows and the offset 5,000 page has rows to show.
HOT_RECORD_ROWS = (10_000, 5_000, 2_500)
HOT_RECORD_SHARES = (0.6, 0.2, 0.1)

# Small records get 1 to 4 flow runs of 2 to 8 steps each.
SMALL_RECORD_RUNS = (1, 4)
STEPS_PER_RUN = (2, 8)

FIRST_MS = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
HISTORY_MS = 180 * 86_400_000

STEP_KINDS = (
    ("api-call", "Fetch CRM contact", None),
    ("prompt", "Summarize account history", "gpt-4o-mini"),
    ("ai-processing", "Classify intent", "claude-3-5-sonnet"),
    ("transform-data", "Normalize fields", None),
    ("prompt", "Draft follow-up email", "gpt-4o"),
    ("conditional", "Route by priority", None),
    ("api-call", "Post to webhook", None),
    ("ai-processing", "Extract entities", "gpt-4o-mini"),
)
# Price per million prompt and completion tokens, in dollars.
MODEL_PRICES = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "claude-3-5-sonnet": (Decimal("3.00"), Decimal("15.00")),
}
# Statuses with their weights: most steps complete, a few fail or are still going.
STATUSES = ("completed", "failed", "skipped", "running", "pending", "cancelled")
STATUS_WEIGHTS = (86, 6, 4, 2, 1, 1)
FLOW_IDS = tuple(f"flow_{number:04d}" for number in range(1, 25))
RECORD_TYPES = ("customer", "lead", "ticket", "invoice")
ERRORS = (
    "Upstream API returned 503 Service Unavailable",
    "Model response did not match the output schema",
    "Timed out after 30000 ms waiting for the webhook",
)


def hot_record_sizes(total_rows):
    """Return the number of rows of each hot record in a data set of ``total_rows`` rows."""
    return [
        min(rows, int(total_rows * share)) for rows, share in zip(HOT_RECORD_ROWS, HOT_RECORD_SHARES)
    ]


def format_timestamp(millis):
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis % 1000:03d}Z" if millis % 1000 else text + "Z"


class DataSet:
    """Yield the items of the benchmark fixture in load order: the key, then each record
    followed by its step results."""

    def __init__(self, total_rows, seed=SEED):
        self.total_rows = total_rows
        self.random = random.Random(seed)
        self.next_step_number = 0

    def items(self):
        yield "apiKeys", {
            "key": BENCH_API_KEY, "userId": USER_IDS[0], "organizationId": ORGANIZATION_ID,
            "permissions": ["records:read"],
        }

        remaining = self.total_rows
        for record_id, rows in zip(HOT_RECORD_IDS, hot_record_sizes(self.total_rows)):
            yield from self.record_items(record_id, rows)
            remaining -= rows

        number = 0
        while remaining > 0:
            number += 1
            runs = self.random.randint(*SMALL_RECORD_RUNS)
            rows = min(remaining, sum(self.random.randint(*STEPS_PER_RUN) for _ in range(runs)))
            yield from self.record_items(f"record_{number:06d}", rows)
            remaining -= rows

    def record_items(self, record_id, rows):
        """Yield a record and ``rows`` step results of flow runs on it, oldest run first."""
        chance = self.random
        user_id = chance.choice(USER_IDS)
        name = f"Account {record_id.removeprefix('record_').replace('_', ' ').title()}"
        created_ms = FIRST_MS + chance.randrange(HISTORY_MS // 10)
        yield "records", {
            "id": record_id, "name": name, "type": chance.choice(RECORD_TYPES),
            "organizationId": ORGANIZATION_ID, "userId": user_id,
            "metadata": {"region": chance.choice(("emea", "amer", "apac")), "tier": chance.randint(1, 3)},
            "createdAt": format_timestamp(created_ms),
        }

        # Runs are spread over the history window after the record was created.
        run_start_ms = created_ms
        spacing_ms = max(1, (FIRST_MS + HISTORY_MS - created_ms) // max(1, rows // 4))
        written = 0
        while written < rows:
            steps = min(rows - written, chance.randint(*STEPS_PER_RUN))
            run_start_ms += chance.randrange(1, spacing_ms * 2)
            yield from self.run_items(record_id, name, user_id, run_start_ms, steps)
            written += steps

    def run_items(self, record_id, record_name, user_id, start_ms, steps):
        chance = self.random
        flow_id = chance.choice(FLOW_IDS)
        session = f"session_{chance.getrandbits(48):012x}"
        batch = f"batch_{chance.randrange(5000):05d}" if chance.random() < 0.3 else None

        created_ms = start_ms
        for order in range(steps):
            yield "stepResults", self.step_result(
                record_id, record_name, user_id, flow_id, session, batch, order, created_ms
            )
            created_ms += chance.randrange(200, 30_000)

    def step_result(self, record_id, record_name, user_id, flow_id, session, batch, order, created_ms):
        chance = self.random
        step_type, step_name, model = STEP_KINDS[(order + len(flow_id)) % len(STEP_KINDS)]
        status = chance.choices(STATUSES, STATUS_WEIGHTS)[0]
        finished = status in ("completed", "failed")
        started_ms = created_ms + chance.randrange(5, 400) if status != "pending" else None
        duration_ms = chance.randrange(40, 20_000) if finished else None
        self.next_step_number += 1

        row = {
            "id": f"sr_{self.next_step_number:08d}",
            "userId": user_id,
            "organizationId": ORGANIZATION_ID,
            "batchExecutionId": batch,
            "executionSessionId": session,
            "flowId": flow_id,
            "flowVersionId": f"{flow_id}_v{1 + created_ms % 3}",
            "recordId": record_id,
            "recordName": record_name,
            "stepId": f"step_{order + 1:03d}",
            "stepType": step_type,
            "stepName": step_name,
            "order": order + 1,
            "status": status,
            "startedAt": format_timestamp(started_ms) if started_ms else None,
            "completedAt": format_timestamp(started_ms + duration_ms) if finished else None,
            "durationMs": duration_ms,
            "outputPreview": f"{{\"result\":\"{step_name.lower()} done\",\"score\":{chance.random():.3f}}}" if finished else None,
            "createdAt": format_timestamp(created_ms),
            "recordMetadata": None,
            "stepConfig": {"timeoutMs": 30_000, "retries": 2} if step_type == "api-call" else None,
            "inputVariables": {"recordId": record_id} if model else None,
            "resolvedPrompt": f"{step_name} for {record_name} using the latest account notes." if model else None,
            "modelUsed": model,
            "errorMessage": chance.choice(ERRORS) if status == "failed" else None,
            "retryCount": chance.choice((0, 0, 0, 0, 1, 2)),
            "executionEngine": "runtime",
        }
        if model and finished:
            prompt_tokens, completion_tokens = chance.randrange(200, 4000), chance.randrange(20, 600)
            prompt_price, completion_price = MODEL_PRICES[model]
            cost = (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1_000_000
            row.update(
                promptTokens=prompt_tokens, completionTokens=completion_tokens,
                totalTokens=prompt_tokens + completion_tokens,
                estimatedCost=format(cost.normalize(), "f"),
            )
        return row


def write_json_lines(data_set, file):
    """Write one item per line as ``{"<section>": item}``, the loader's JSON Lines format."""
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for section, item in data_set.items():
        file.write(encode({section: item}))
        file.write("\n")


def write_json(data_set, file):
    """Write one JSON object with the lists apiKeys, stepResults and records.

    The loader reads a JSON object's lists in its own order, whatever their order in the
    file, so the step results, the bulk of the file, are written as they come and the
    records are kept in memory and written last.
    """
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    kept = {"apiKeys": [], "records": []}
    separator = ""

    file.write('{"stepResults":[')
    for section, item in data_set.items():
        if section == "stepResults":
            file.write(separator + encode(item))
            separator = ","
        else:
            kept[section].append(item)
    file.write(f'],"apiKeys":{encode(kept["apiKeys"])},"records":{encode(kept["records"])}}}\n')


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="python bench/generate.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="number of step results, e.g. 10000")
    parser.add_argument("--output", required=True, help="file to write; '-' writes to standard output")
    parser.add_argument(
        "--format", choices=("jsonl", "json"), default="jsonl",
        help="JSON Lines, one item per line (default), or one JSON object",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    data_set = DataSet(arguments.rows, arguments.seed)
    write = write_json_lines if arguments.format == "jsonl" else write_json

    if arguments.output == "-":
        write(data_set, sys.stdout)
    else:
        with open(arguments.output, "w", encoding="utf-8") as file:
            write(data_set, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
