"""Build the demo data set that seeds a new database: API keys, records and step results.

The rows come from the tables below and a private generator with a fixed seed, so every
call returns the same fixture, ids included.
"""

import random
import uuid
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from string import Template, ascii_lowercase, digits


DEMO_ORGANIZATION_ID = "org_123456789"
DEMO_USER_ID = "user_987654321"
DEMO_API_KEY = "rt_demo_4f7c2a9e51b3d806"

SECOND_ORGANIZATION_ID = "org_246813579"
THIRD_ORGANIZATION_ID = "org_314159265"

# Users of each organization. The first user of each organization owns its API key.
ORGANIZATION_USERS = {
    DEMO_ORGANIZATION_ID: (DEMO_USER_ID, "user_123987456", "user_555010203"),
    SECOND_ORGANIZATION_ID: ("user_246813001", "user_246813002"),
    THIRD_ORGANIZATION_ID: ("user_314159001", "user_314159002", "user_314159003"),
}

# API keys by purpose, for the README and for manual calls.
DEMO_KEYS = {
    "demo_full_access": DEMO_API_KEY,
    "demo_flows_read_only": "rt_demo_flows_read_only_7d21c0b4",
    "demo_revoked": "rt_demo_revoked_0e9a3f57",
    "second_organization": "rt_demo_second_org_5b8e13c2",
    "third_organization": "rt_demo_third_org_9c64d0a1",
}

DOCUMENTED_RECORD_ID = "record_20240601_0001"
DOCUMENTED_RECORD_NAME = "Customer Onboarding - John Doe"

# NOTE: The fields from "id" to "modelUsed" are copied from the public documentation page.
# The copy of that page we could read ends after "modelUsed", so promptTokens through
# retryCount are a reconstruction and may differ from the real page.
DOCUMENTED_EXAMPLE_ROW = {
    "id": "a3f1c9e2-7b4d-4f8a-9d2e-5b6c7d8e9f01",
    "userId": DEMO_USER_ID,
    "organizationId": DEMO_ORGANIZATION_ID,
    "batchExecutionId": "batch_20240601_001",
    "executionSessionId": "session_20240601_abc123",
    "flowId": "flow_456def789",
    "flowVersionId": "flowver_1.2.3",
    "recordId": DOCUMENTED_RECORD_ID,
    "recordName": DOCUMENTED_RECORD_NAME,
    "stepId": "step_001",
    "stepType": "api-call",
    "stepName": "Validate Email Address",
    "order": 1,
    "status": "completed",
    "startedAt": "2024-06-01T10:15:30Z",
    "completedAt": "2024-06-01T10:15:45Z",
    "durationMs": 15000,
    "outputPreview": "{\"valid\":true,\"domain\":\"example.com\"}",
    "createdAt": "2024-06-01T10:15:30Z",
    "recordMetadata": None,
    "stepConfig": None,
    "inputVariables": None,
    "resolvedPrompt": "Check if the email john.doe@example.com is valid.",
    "modelUsed": "gpt-4-email-validator-v1",
    "promptTokens": 12,
    "completionTokens": 8,
    "totalTokens": 20,
    "estimatedCost": "0.00015",
    "errorMessage": None,
    "retryCount": 0,
}

# The record that runs in every batch of four flows, so that paging, filters and date
# ranges have several hundred rows to work on. It was renamed during the data window.
BUSIEST_RECORD_ID = "record_20240318_0001"
BUSIEST_RECORD_NAME = "Customer Account - Globex Corporation"
BUSIEST_RECORD_FORMER_NAME = "Customer Account - Globex"
BUSIEST_RECORD_RENAMED_AT = datetime(2024, 5, 27, 9, 42, 17, tzinfo=timezone.utc)
BUSIEST_RECORD_FLOWS = ("flow_7a2c91e04", "flow_b31d5f862", "flow_d52f9b1a6", "flow_e19c3a7f5")

SEED = 20240601

# Batches run on every day from FIRST_DAY to LAST_DAY. Runs of the last day's batches are
# partly still in progress, which is where running, queued, paused and pending rows come from.
FIRST_DAY = date(2024, 5, 13)
LAST_DAY = date(2024, 6, 10)

# Rows created before this moment predate the executionEngine field and the fields added
# with it, so those stay null. Those rows also have second precision and no retry count.
ENGINE_FIELDS_SINCE = datetime(2024, 5, 17, tzinfo=timezone.utc)

STEP_RESULT_FIELDS = (
    "id", "userId", "organizationId", "batchExecutionId", "executionSessionId", "flowId",
    "flowVersionId", "recordId", "recordName", "stepId", "stepType", "stepName", "order",
    "status", "startedAt", "completedAt", "durationMs", "outputPreview", "createdAt",
    "recordMetadata", "stepConfig", "inputVariables", "resolvedPrompt", "modelUsed",
    "promptTokens", "completionTokens", "totalTokens", "estimatedCost", "errorMessage",
    "retryCount", "cacheReadTokens", "cacheWriteTokens", "reasoningTokens", "reasoningConfig",
    "reasoningRequested", "reasoningRejection", "executionEngine",
)
TIMESTAMP_FIELDS = ("startedAt", "completedAt", "createdAt")

AI_STEP_TYPES = ("prompt", "ai-processing")


@dataclass(frozen=True)
class ModelPrice:
    """USD prices per 1M tokens."""

    input: Decimal
    cached_input: Decimal
    output: Decimal


# Estimates close to the providers' public list prices. The demo needs costs that match
# its own token counts, not current prices.
MODEL_PRICES = {
    "gpt-4o-mini": ModelPrice(Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    "gpt-4o": ModelPrice(Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
    "claude-3-5-sonnet": ModelPrice(Decimal("3.00"), Decimal("0.30"), Decimal("15.00")),
    "claude-3-haiku": ModelPrice(Decimal("0.25"), Decimal("0.03"), Decimal("1.25")),
    "gemini-1.5-flash": ModelPrice(Decimal("0.075"), Decimal("0.01875"), Decimal("0.30")),
    "o3-mini": ModelPrice(Decimal("1.10"), Decimal("0.55"), Decimal("4.40")),
}
REASONING_MODELS = ("o3-mini",)
# Only the Claude models report cache writes in this data set, as Anthropic's usage data
# has a count of them. The other models get a null cacheWriteTokens.
CACHE_WRITE_MODELS = ("claude-3-5-sonnet", "claude-3-haiku")
COST_QUANTUM = Decimal("0.00000001")
TOKENS_PER_PRICE_UNIT = Decimal(1_000_000)

# Token ranges by step type, inclusive.
PROMPT_TOKEN_RANGES = {"prompt": (250, 2400), "ai-processing": (600, 7000)}
COMPLETION_TOKEN_RANGES = {"prompt": (60, 450), "ai-processing": (20, 300)}
REASONING_TOKEN_RANGE = (256, 3500)

# Step durations in milliseconds by step type, inclusive. Reasoning models take longer.
DURATION_RANGES_MS = {
    "api-call": (150, 2500),
    "fetch-url": (300, 6000),
    "prompt": (1200, 14000),
    "ai-processing": (900, 9000),
    "transform-data": (3, 180),
    "conditional": (1, 40),
    "record-upsert": (15, 350),
}
REASONING_SLOWDOWN = 3
STEP_GAP_RANGE_MS = (5, 400)
QUEUE_WAIT_RANGE_MS = (100, 2500)
RUN_SPACING_RANGE_MS = (8000, 60000)


@dataclass(frozen=True)
class Step:
    """One step of a flow template.

    Texts are string.Template strings over the record's context. A conditional step has
    two outputs: the first when the condition holds, the second when it does not.
    """

    step_id: str
    step_type: str
    name: str
    outputs: tuple
    prompt: str = None
    models: tuple = ()
    config: dict = None


@dataclass(frozen=True)
class FlowTemplate:
    name: str
    record_types: tuple
    steps: tuple


@dataclass(frozen=True)
class Flow:
    """A flow of one organization, run as a daily or less frequent batch by its owner."""

    flow_id: str
    organization_id: str
    owner_id: str
    template: str
    versions: tuple  # (first day, flowVersionId), oldest first
    start_time: time
    every_days: int
    batch_size: tuple  # (min, max) records per batch


@dataclass(frozen=True)
class StepError:
    """An error a step can fail with. The message is a string.Template over the run context."""

    message: str
    retried: bool  # a transient error, so the engine retried before giving up
    billed: bool = False  # the model returned tokens before the step failed


FLOW_TEMPLATES = {
    "customer-onboarding": FlowTemplate(
        name="Customer Onboarding",
        record_types=("customer",),
        steps=(
            Step(
                "step_001", "api-call", "Validate Email Address",
                outputs=('{"valid":true,"domain":"$domain"}', '{"valid":true,"domain":"$domain","disposable":false}'),
                config={"method": "POST", "url": "https://api.mailcheck.example/v1/validate", "timeoutMs": 10000},
            ),
            Step(
                "step_002", "fetch-url", "Fetch Company Website",
                outputs=('{"status":200,"url":"https://www.$domain/","title":"$company"}',),
                config={"method": "GET", "timeoutMs": 15000, "maxBytes": 500000},
            ),
            Step(
                "step_003", "prompt", "Summarize Customer Profile",
                prompt="Write a two-sentence profile of $contact from $company ($country) for the account team."
                " They signed up for the $plan plan.",
                models=("gpt-4o-mini", "claude-3-haiku"),
                outputs=(
                    "$contact signed up for the $plan plan on behalf of $company."
                    " The website at $domain is active and matches the signup details.",
                    "$company ($country) joined on the $plan plan through $contact."
                    " No earlier accounts were found for $domain.",
                ),
            ),
            Step(
                "step_004", "ai-processing", "Score Onboarding Risk",
                prompt="Rate the onboarding risk of $company as low, medium or high and give one reason."
                " Signup email: $email. Country: $country.",
                models=("o3-mini", "gpt-4o"),
                outputs=(
                    '{"risk":"low","reason":"Business domain with an active website"}',
                    '{"risk":"medium","reason":"Domain was registered less than 90 days ago"}',
                    '{"risk":"high","reason":"Signup country differs from the billing country"}',
                ),
            ),
            Step(
                "step_005", "conditional", "Route by Risk",
                outputs=('{"result":true,"branch":"standard"}', '{"result":false,"branch":"manual-review"}'),
            ),
            Step(
                "step_006", "record-upsert", "Save Customer Profile",
                outputs=('{"recordId":"$record_id","updated":["profileSummary","riskLevel"]}',),
            ),
        ),
    ),
    "support-triage": FlowTemplate(
        name="Support Ticket Triage",
        record_types=("support-ticket", "customer"),
        steps=(
            Step(
                "step_101", "api-call", "Load Conversation History",
                outputs=('{"messages":3,"lastReplyFrom":"customer"}', '{"messages":7,"lastReplyFrom":"agent"}'),
                config={"method": "GET", "url": "https://helpdesk.example/api/v2/conversations", "timeoutMs": 8000},
            ),
            Step(
                "step_102", "ai-processing", "Classify Ticket",
                prompt="Classify the request \"$subject\" from $contact at $company as billing, technical,"
                " account or other, and set a priority.",
                models=("gpt-4o-mini", "gemini-1.5-flash"),
                outputs=(
                    '{"category":"technical","priority":"high"}',
                    '{"category":"billing","priority":"normal"}',
                    '{"category":"account","priority":"low"}',
                ),
            ),
            Step(
                "step_103", "prompt", "Draft First Reply",
                prompt="Draft a short, friendly first reply to $first_name about \"$subject\"."
                " Do not promise a date for a fix.",
                models=("claude-3-5-sonnet", "gpt-4o"),
                outputs=(
                    "Hi $first_name, thanks for reaching out. I have passed the details to our team"
                    " and will update you as soon as we know more.",
                    "Hi $first_name, thank you for the report about \"$subject\". We are looking into it"
                    " and will get back to you today.",
                ),
            ),
            Step(
                "step_104", "record-upsert", "Update Ticket Fields",
                outputs=('{"recordId":"$record_id","updated":["category","priority","draftReply"]}',),
            ),
            Step(
                "step_105", "conditional", "Check Escalation Needed",
                outputs=(
                    '{"result":true,"reason":"priority is high"}',
                    '{"result":false,"reason":"priority below high"}',
                ),
            ),
            Step(
                "step_106", "api-call", "Page On-call Engineer",
                outputs=('{"paged":true,"incident":"INC-20417"}', '{"paged":true,"incident":"INC-20433"}'),
                config={"method": "POST", "url": "https://oncall.example/api/incidents", "timeoutMs": 5000},
            ),
        ),
    ),
    "lead-qualification": FlowTemplate(
        name="Lead Qualification",
        record_types=("lead", "customer"),
        steps=(
            Step(
                "step_201", "api-call", "Enrich Lead from CRM",
                outputs=('{"found":true,"company":"$company","domain":"$domain"}', '{"found":false}'),
                config={"method": "GET", "url": "https://crm.example/api/companies/lookup", "timeoutMs": 8000},
            ),
            Step(
                "step_202", "ai-processing", "Score Lead Fit",
                prompt="Score from 0 to 100 how well $company fits our ideal customer profile and explain"
                " the score in one sentence. Contact: $contact.",
                models=("o3-mini", "gpt-4o"),
                outputs=(
                    '{"score":82,"reason":"Mid-size company with a growing operations team"}',
                    '{"score":47,"reason":"Good industry fit but fewer than 20 employees"}',
                    '{"score":91,"reason":"Already evaluating workflow automation tools"}',
                ),
            ),
            Step(
                "step_203", "prompt", "Write Outreach Email",
                prompt="Write a three-sentence outreach email to $first_name at $company about automating"
                " record processing.",
                models=("gpt-4o-mini", "claude-3-haiku"),
                outputs=(
                    "Hi $first_name, teams like $company's often spend hours on manual record updates."
                    " Our flows run those steps for you. Would a 20-minute call next week help?",
                    "Hi $first_name, I saw that $company is growing quickly. We help teams process records"
                    " without manual work. Can I send you a short demo?",
                ),
            ),
            Step(
                "step_204", "record-upsert", "Save Lead Score",
                outputs=('{"recordId":"$record_id","updated":["leadScore","outreachDraft"]}',),
            ),
        ),
    ),
    "invoice-extraction": FlowTemplate(
        name="Invoice Extraction",
        record_types=("invoice", "document"),
        steps=(
            Step(
                "step_301", "fetch-url", "Download Attachment",
                outputs=('{"status":200,"contentType":"application/pdf","bytes":184233}',
                         '{"status":200,"contentType":"application/pdf","bytes":92817}'),
                config={"method": "GET", "timeoutMs": 20000, "maxBytes": 10000000},
            ),
            Step(
                "step_302", "ai-processing", "Extract Line Items",
                prompt="Extract the vendor, document number, line items and total from \"$record_name\"."
                " Return JSON.",
                models=("gemini-1.5-flash", "gpt-4o"),
                outputs=(
                    '{"vendor":"$company","lineItems":3,"currency":"USD"}',
                    '{"vendor":"$company","lineItems":7,"currency":"EUR"}',
                ),
            ),
            Step(
                "step_303", "transform-data", "Normalize Amounts",
                outputs=(
                    '{"lineItems":3,"currency":"USD","rounded":true}',
                    '{"lineItems":7,"currency":"EUR","rounded":true}',
                ),
                config={"expression": "lineItems.map(item => round(item.amount, 2))"},
            ),
            Step(
                "step_304", "conditional", "Check Totals Match",
                outputs=('{"result":true,"difference":"0.00"}', '{"result":false,"difference":"12.50"}'),
            ),
            Step(
                "step_305", "record-upsert", "Save Invoice Fields",
                outputs=('{"recordId":"$record_id","updated":["lineItems","total","vendor"]}',),
            ),
        ),
    ),
    "document-summary": FlowTemplate(
        name="Document Summary",
        record_types=("document", "customer"),
        steps=(
            Step(
                "step_401", "fetch-url", "Fetch Document",
                outputs=('{"status":200,"contentType":"application/pdf","bytes":412650}',),
                config={"method": "GET", "timeoutMs": 20000, "maxBytes": 10000000},
            ),
            Step(
                "step_402", "transform-data", "Split into Sections",
                outputs=('{"sections":7,"characters":18342}', '{"sections":12,"characters":40218}'),
                config={"expression": "splitByHeadings(text, maxCharacters = 4000)"},
            ),
            Step(
                "step_403", "prompt", "Summarize Document",
                prompt="Summarize \"$record_name\" for the account manager of $company in five short bullet points.",
                models=("claude-3-5-sonnet", "gemini-1.5-flash"),
                outputs=(
                    "- Term of 24 months from 1 July 2024\n- Annual price fixed for the term\n- 30 days' notice to"
                    " cancel\n- Data stays in the EU\n- Support replies within one business day",
                    "- Covers $company's use of the platform\n- Renews every year\n- Usage above the plan is"
                    " billed monthly\n- Either side may end it with 60 days' notice\n- No open issues found",
                ),
            ),
            Step(
                "step_404", "ai-processing", "Extract Key Dates",
                prompt="List the effective date, renewal date and notice deadline in \"$record_name\" as JSON.",
                models=("gpt-4o-mini",),
                outputs=(
                    '{"effectiveDate":"2024-07-01","renewalDate":"2026-06-30","noticeBy":"2026-05-31"}',
                    '{"effectiveDate":"2024-05-01","renewalDate":"2025-04-30","noticeBy":"2025-03-01"}',
                ),
            ),
            Step(
                "step_405", "record-upsert", "Save Summary",
                outputs=('{"recordId":"$record_id","updated":["summary","keyDates"]}',),
            ),
        ),
    ),
    "account-health": FlowTemplate(
        name="Account Health Check",
        record_types=("customer",),
        steps=(
            Step(
                "step_501", "api-call", "Load Usage Metrics",
                outputs=('{"activeUsers":42,"runsLast7Days":318}', '{"activeUsers":9,"runsLast7Days":41}'),
                config={"method": "GET", "url": "https://metrics.example/api/accounts/usage", "timeoutMs": 8000},
            ),
            Step(
                "step_502", "transform-data", "Compute Usage Trend",
                outputs=('{"trend":"up","changePercent":12.5}', '{"trend":"down","changePercent":-8.25}'),
                config={"expression": "percentChange(runsLast7Days, runsPrevious7Days)"},
            ),
            Step(
                "step_503", "prompt", "Write Health Summary",
                prompt="In two sentences, summarize the account health of $company for the customer success"
                " team, using the usage trend.",
                models=("gpt-4o-mini", "claude-3-haiku"),
                outputs=(
                    "$company is healthy: weekly runs are up and more users are active."
                    " No action is needed this week.",
                    "Usage at $company dropped this week. Suggest a check-in call with $contact.",
                ),
            ),
        ),
    ),
}

FLOWS = (
    Flow("flow_456def789", DEMO_ORGANIZATION_ID, DEMO_USER_ID, "customer-onboarding",
         ((date(2024, 5, 13), "flowver_1.2.1"), (date(2024, 5, 22), "flowver_1.2.2"),
          (date(2024, 5, 29), "flowver_1.2.3")),
         time(10, 15, 30), 1, (1, 4)),
    Flow("flow_7a2c91e04", DEMO_ORGANIZATION_ID, "user_123987456", "support-triage",
         ((date(2024, 5, 13), "flowver_2.0.0"), (date(2024, 5, 27), "flowver_2.1.0")),
         time(11, 0), 1, (2, 5)),
    Flow("flow_b31d5f862", DEMO_ORGANIZATION_ID, DEMO_USER_ID, "lead-qualification",
         ((date(2024, 5, 13), "flowver_0.9.4"),),
         time(13, 30), 2, (3, 6)),
    Flow("flow_c8e4a07d3", DEMO_ORGANIZATION_ID, "user_555010203", "invoice-extraction",
         ((date(2024, 5, 13), "flowver_3.1.0"), (date(2024, 6, 3), "flowver_3.2.0")),
         time(15, 0), 2, (3, 6)),
    Flow("flow_d52f9b1a6", DEMO_ORGANIZATION_ID, "user_123987456", "document-summary",
         ((date(2024, 5, 13), "flowver_1.4.0"),),
         time(16, 45), 3, (3, 5)),
    Flow("flow_e19c3a7f5", DEMO_ORGANIZATION_ID, DEMO_USER_ID, "account-health",
         ((date(2024, 5, 13), "flowver_0.3.0"), (date(2024, 5, 20), "flowver_0.4.0")),
         time(18, 0), 1, (2, 5)),
    Flow("flow_f2a8c6d11", SECOND_ORGANIZATION_ID, "user_246813001", "support-triage",
         ((date(2024, 5, 13), "flowver_5.0.2"),),
         time(10, 40), 1, (2, 4)),
    Flow("flow_a94e0b7c2", SECOND_ORGANIZATION_ID, "user_246813002", "document-summary",
         ((date(2024, 5, 13), "flowver_2.3.0"), (date(2024, 5, 31), "flowver_2.4.0")),
         time(14, 20), 2, (2, 5)),
    Flow("flow_c07d3e5f8", THIRD_ORGANIZATION_ID, "user_314159001", "invoice-extraction",
         ((date(2024, 5, 13), "flowver_4.0.1"),),
         time(12, 10), 2, (3, 6)),
    Flow("flow_9b6f1d2e4", THIRD_ORGANIZATION_ID, "user_314159002", "lead-qualification",
         ((date(2024, 5, 13), "flowver_1.1.0"), (date(2024, 6, 5), "flowver_1.1.1")),
         time(17, 30), 3, (2, 5)),
)

# Records to generate, by organization and record type.
RECORD_COUNTS = {
    DEMO_ORGANIZATION_ID: {"customer": 14, "support-ticket": 10, "lead": 8, "invoice": 8, "document": 8},
    SECOND_ORGANIZATION_ID: {"customer": 6, "support-ticket": 10, "document": 6},
    THIRD_ORGANIZATION_ID: {"customer": 4, "lead": 8, "invoice": 10, "document": 4},
}
# Generated records are created on days from this one to the day before LAST_DAY, at
# 11:00 UTC or later, so the documented record is always the first of its day.
FIRST_RECORD_DAY = date(2024, 4, 1)
RECORD_HOURS = (11, 21)

FIRST_NAMES = (
    "Jane", "Carlos", "Priya", "Wei", "Amara", "Lukas", "Sofia", "Daniel", "Fatima", "Kenji",
    "Olivia", "Mateo", "Hannah", "Ravi", "Elena", "Samuel", "Nadia", "Tom", "Chloe", "Omar",
)
LAST_NAMES = (
    "Smith", "Garcia", "Patel", "Chen", "Okafor", "Mueller", "Rossi", "Kim", "Haddad", "Tanaka",
    "Brown", "Silva", "Novak", "Iyer", "Petrova", "Adeyemi", "Larsen", "Dubois", "Khan", "Walsh",
)
# Fictional companies on the reserved .example top-level domain.
COMPANIES = (
    ("Northwind Traders", "northwind.example"), ("Contoso", "contoso.example"),
    ("Fabrikam", "fabrikam.example"), ("Tailspin Toys", "tailspintoys.example"),
    ("Wide World Importers", "wideworldimporters.example"), ("Initech", "initech.example"),
    ("Vandelay Industries", "vandelay.example"), ("Blue Yonder Airlines", "blueyonder.example"),
    ("Adventure Works", "adventure-works.example"), ("Proseware", "proseware.example"),
    ("Litware", "litware.example"), ("Coho Winery", "cohowinery.example"),
    ("Alpine Ski House", "alpineskihouse.example"), ("Lamna Healthcare", "lamna.example"),
    ("Trey Research", "treyresearch.example"),
)
COUNTRIES = ("US", "GB", "DE", "IN", "BR", "JP", "NG", "CA", "FR", "AU")
PLANS = ("starter", "growth", "enterprise")
CUSTOMER_REQUESTS = (
    "Question about seat-based pricing", "Request for a usage report", "Help configuring SSO",
    "Renewal quote request", "Add a second billing contact",
)
TICKET_SUBJECTS = (
    "Cannot reset password", "Invoice shows the wrong VAT rate", "Webhook deliveries fail with 502",
    "Request to export all records", "SSO login loops back to the sign-in page",
    "Charged twice for the May subscription", "API returns 429 during nightly sync",
    "Cannot invite new team members", "Flow stuck in queued state", "Dashboard charts are empty",
)
JOB_TITLES = ("Head of Operations", "VP Sales", "Data Engineer", "CTO", "Finance Manager", "Product Lead")
LEAD_SOURCES = ("webinar", "website", "referral", "trade-show")
DOCUMENT_KINDS = (
    "Master Services Agreement", "Data Processing Addendum", "Statement of Work",
    "Security Questionnaire", "Quarterly Business Review", "Order Form",
)
CURRENCIES = ("USD", "EUR", "GBP")

ENGINES = ("runtime", "legacy", "external")
ENGINE_WEIGHTS = (80, 15, 5)
# The legacy engine, like the rows from before ENGINE_FIELDS_SINCE, stores whole seconds.
SECOND_PRECISION_ENGINES = (None, "legacy")

# Outcomes of a run and their weights, for finished batches and for the last day's
# batches, which are partly still in progress.
FINISHED_OUTCOMES = {"completed": 82, "failed": 10, "cancelled": 4, "interrupted": 4}
LAST_DAY_OUTCOMES = {"completed": 40, "failed": 5, "running": 20, "queued": 12, "paused": 10, "pending": 13}
PRIMARY_MODEL_RATE = 0.8  # share of AI steps that call the first model of their step
CONDITION_FALSE_RATE = 0.2
COMPLETED_RETRY_RATE = 0.06
QUEUE_WAIT_RATE = 0.15
CACHE_READ_RATE = 0.35
CACHE_WRITE_RATE = 0.3
MIN_CACHED_PROMPT_TOKENS = 1024
REASONING_EFFORTS = ("low", "medium", "high")
REASONING_EFFORT_WEIGHTS = (2, 5, 2)
REASONING_REJECTION_COUNT = 2
SESSION_ID_ALPHABET = ascii_lowercase + digits

STEP_ERRORS = {
    "api-call": (
        StepError("POST to the email check service failed: 503 Service Unavailable", retried=True),
        StepError("Request timed out after 10000 ms", retried=True),
        StepError("Request failed: 401 Unauthorized. Check the API key of the connection", retried=False),
    ),
    "fetch-url": (
        StepError("GET https://www.$domain/ failed: 404 Not Found", retried=False),
        StepError("GET https://www.$domain/ timed out after 15000 ms", retried=True),
        StepError("TLS handshake with www.$domain failed: certificate has expired", retried=False),
    ),
    "prompt": (
        StepError("Rate limit exceeded for $model. Retry after 20 s", retried=True),
        StepError("Request to $model timed out after 60000 ms", retried=True),
        StepError("Model output exceeded the step's maxOutputTokens of 1024", retried=False, billed=True),
    ),
    "ai-processing": (
        StepError("Rate limit exceeded for $model. Retry after 20 s", retried=True),
        StepError("Model output is not valid JSON: Expecting ',' delimiter: line 1 column 48",
                  retried=True, billed=True),
        StepError("Model output does not match the step's JSON schema: 'risk' is required", retried=False, billed=True),
    ),
    "transform-data": (
        StepError("Cannot convert 'N/A' to a number in field 'amount'", retried=False),
        StepError("Expression failed: 'lineItems' is undefined", retried=False),
    ),
    "conditional": (
        StepError("Condition refers to the missing variable 'risk'", retried=False),
    ),
    "record-upsert": (
        StepError("Record update rejected: metadata exceeds 64 KB", retried=False),
        StepError("Update conflict: record $record_id was changed by another run", retried=True),
    ),
}
INTERRUPTED_MESSAGE = "The worker restarted while the step was running"
CANCELLED_MESSAGE = Template("Run cancelled by $user_id")
PAUSED_OUTPUT = '{"waitingFor":"manual approval"}'
MAX_RETRIES = 3


@dataclass
class Record:
    id: str
    name: str
    record_type: str
    organization_id: str
    user_id: str
    metadata: dict
    created_at: datetime
    context: dict  # values for the step templates: contact, company, email, ...
    updated_at: datetime = None


@dataclass
class Batch:
    batch_id: str
    flow: Flow
    started_at: datetime
    in_progress: bool  # runs of this batch may still be running
    records: list = field(default_factory=list)


@dataclass
class Run:
    """One execution of a flow on a record."""

    batch: Batch
    record: Record
    session_id: str
    started_at: datetime
    engine: str  # None before ENGINE_FIELDS_SINCE
    models: dict  # step index -> model, for AI steps
    efforts: dict  # step index -> reasoning effort, for reasoning models
    context: dict  # the record's template context as of the run's start


@dataclass
class StepPlan:
    """Status and timestamps of one step of a run, before its row is built."""

    status: str
    created_at: datetime
    started_at: datetime = None
    completed_at: datetime = None
    retry_count: int = 0
    error: StepError = None  # set on a failed step
    condition_holds: bool = True  # false when a conditional step takes the other branch


def build_demo_fixture():
    """Build the demo data set as a fixture dict with apiKeys, records and stepResults.

    Every call returns an equal, freshly built dict.
    """
    rng = random.Random(SEED)

    records = build_records(rng)
    batches = schedule_batches(rng, records)

    step_results = []
    session_ids = set()
    for batch in batches:
        step_results.extend(build_batch_rows(rng, batch, session_ids))

    add_reasoning_rejections(step_results)
    set_updated_at(records, step_results)

    return {
        "apiKeys": build_api_keys(),
        "records": [serialize_record(record) for record in records],
        "stepResults": [serialize_row(row) for row in step_results],
    }


def build_api_keys():
    """Build the API keys: a full, a flows-only and a revoked key of the demo organization,
    and a records:read key for each other organization.
    """
    demo_users = ORGANIZATION_USERS[DEMO_ORGANIZATION_ID]
    return [
        {"key": DEMO_KEYS["demo_full_access"], "userId": DEMO_USER_ID,
         "organizationId": DEMO_ORGANIZATION_ID, "permissions": ["*"]},
        {"key": DEMO_KEYS["demo_flows_read_only"], "userId": demo_users[1],
         "organizationId": DEMO_ORGANIZATION_ID, "permissions": ["flows:read"]},
        {"key": DEMO_KEYS["demo_revoked"], "userId": demo_users[2],
         "organizationId": DEMO_ORGANIZATION_ID, "permissions": ["records:read"], "revoked": True},
        {"key": DEMO_KEYS["second_organization"], "userId": ORGANIZATION_USERS[SECOND_ORGANIZATION_ID][0],
         "organizationId": SECOND_ORGANIZATION_ID, "permissions": ["records:read"]},
        {"key": DEMO_KEYS["third_organization"], "userId": ORGANIZATION_USERS[THIRD_ORGANIZATION_ID][0],
         "organizationId": THIRD_ORGANIZATION_ID, "permissions": ["records:read"]},
    ]


# Records


class NameSource:
    """Draws names, companies and numbers, never returning the same person or title twice."""

    def __init__(self, rng):
        self.rng = rng
        self.people = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
        rng.shuffle(self.people)
        self.ticket_numbers = rng.sample(range(4000, 5000), 60)
        self.invoice_numbers = rng.sample(range(10000, 20000), 60)
        self.document_titles = [(kind, company) for kind in DOCUMENT_KINDS for company in COMPANIES]
        rng.shuffle(self.document_titles)

    def person(self):
        first, last = self.people.pop()
        company, domain = self.rng.choice(COMPANIES)
        return {
            "contact": f"{first} {last}",
            "first_name": first,
            "email": f"{first}.{last}@{domain}".lower(),
            "company": company,
            "domain": domain,
        }


def build_records(rng):
    """Build the two fixed records and the generated ones, oldest first."""
    names = NameSource(rng)
    records = [busiest_record(), documented_record()]

    drafts = []
    for organization_id, counts in RECORD_COUNTS.items():
        for record_type, count in counts.items():
            for _ in range(count):
                drafts.append(draw_record(rng, names, organization_id, record_type))

    records.extend(number_records(drafts, records))
    records.sort(key=lambda record: record.created_at)
    return records


def busiest_record():
    metadata = {
        "email": "hank.scorpio@globex.example",
        "company": "Globex Corporation",
        "plan": "enterprise",
        "country": "US",
        "signupSource": "sales",
    }
    context = {
        "contact": "Hank Scorpio",
        "first_name": "Hank",
        "email": metadata["email"],
        "company": metadata["company"],
        "domain": "globex.example",
        "country": "US",
        "plan": "enterprise",
        "subject": "Request for a usage report",
        "record_id": BUSIEST_RECORD_ID,
        "record_name": BUSIEST_RECORD_NAME,
    }
    return Record(
        id=BUSIEST_RECORD_ID,
        name=BUSIEST_RECORD_NAME,
        record_type="customer",
        organization_id=DEMO_ORGANIZATION_ID,
        user_id=DEMO_USER_ID,
        metadata=metadata,
        created_at=datetime(2024, 3, 18, 14, 2, 51, tzinfo=timezone.utc),
        context=context,
    )


def documented_record():
    # Empty metadata, because the documented row has a null recordMetadata.
    return Record(
        id=DOCUMENTED_RECORD_ID,
        name=DOCUMENTED_RECORD_NAME,
        record_type="customer",
        organization_id=DEMO_ORGANIZATION_ID,
        user_id=DEMO_USER_ID,
        metadata={},
        created_at=datetime(2024, 6, 1, 10, 15, 2, tzinfo=timezone.utc),
        context={},
    )


def draw_record(rng, names, organization_id, record_type):
    """Draw a record without an id: its name, metadata, owner, creation time and template context."""
    context = names.person()
    context["country"] = rng.choice(COUNTRIES)
    name, metadata = RECORD_DRAWERS[record_type](rng, names, context)

    day_count = (LAST_DAY - FIRST_RECORD_DAY).days
    created_day = FIRST_RECORD_DAY + timedelta(days=rng.randrange(day_count))
    created_time = time(rng.randint(*RECORD_HOURS), rng.randrange(60), rng.randrange(60))
    created_at = datetime.combine(created_day, created_time, tzinfo=timezone.utc)

    return Record(
        id=None,
        name=name,
        record_type=record_type,
        organization_id=organization_id,
        user_id=rng.choice(ORGANIZATION_USERS[organization_id]),
        metadata=metadata,
        created_at=created_at,
        context=context,
    )


def draw_customer(rng, names, context):
    context["plan"] = rng.choice(PLANS)
    context["subject"] = rng.choice(CUSTOMER_REQUESTS)
    metadata = {
        "email": context["email"],
        "company": context["company"],
        "plan": context["plan"],
        "country": context["country"],
        "signupSource": rng.choice(("web", "sales", "partner")),
    }
    return f"Customer Onboarding - {context['contact']}", metadata


def draw_support_ticket(rng, names, context):
    number = names.ticket_numbers.pop()
    context["subject"] = rng.choice(TICKET_SUBJECTS)
    metadata = {
        "ticketNumber": number,
        "priority": rng.choice(("low", "normal", "high", "urgent")),
        "channel": rng.choice(("email", "chat", "web")),
        "requesterEmail": context["email"],
        "company": context["company"],
    }
    return f"Ticket #{number} - {context['subject']}", metadata


def draw_lead(rng, names, context):
    metadata = {
        "email": context["email"],
        "company": context["company"],
        "jobTitle": rng.choice(JOB_TITLES),
        "employees": rng.choice((12, 45, 120, 250, 800, 2400)),
        "source": rng.choice(LEAD_SOURCES),
    }
    return f"Lead - {context['contact']} ({context['company']})", metadata


def draw_invoice(rng, names, context):
    number = f"INV-2024-{names.invoice_numbers.pop():05d}"
    cents = rng.randint(15_000, 4_500_000)
    due = date(2024, 6, 1) + timedelta(days=rng.randrange(45))
    metadata = {
        "invoiceNumber": number,
        "vendor": context["company"],
        "amount": f"{cents // 100}.{cents % 100:02d}",
        "currency": rng.choice(CURRENCIES),
        "dueDate": due.isoformat(),
        "billingEmail": context["email"],
    }
    return f"Invoice {number} - {context['company']}", metadata


def draw_document(rng, names, context):
    kind, (company, domain) = names.document_titles.pop()
    context["company"] = company
    context["domain"] = domain
    file_name = f"{kind}-{company}".lower().replace(" ", "-") + ".pdf"
    metadata = {
        "fileName": file_name,
        "pages": rng.randint(2, 60),
        "language": "en",
        "uploadedBy": context["email"],
    }
    return f"{kind} - {company}", metadata


RECORD_DRAWERS = {
    "customer": draw_customer,
    "support-ticket": draw_support_ticket,
    "lead": draw_lead,
    "invoice": draw_invoice,
    "document": draw_document,
}


def number_records(drafts, fixed_records):
    """Give each drafted record an id of the form record_YYYYMMDD_NNNN, numbered per day by creation time.

    Numbers already used by the fixed records are skipped.
    """
    used_ids = {record.id for record in fixed_records}
    next_number = {}
    for record in sorted(drafts, key=lambda draft: draft.created_at):
        day = record.created_at.strftime("%Y%m%d")
        number = next_number.get(day, 1)
        while f"record_{day}_{number:04d}" in used_ids:
            number += 1
        record.id = f"record_{day}_{number:04d}"
        next_number[day] = number + 1

        record.context["record_id"] = record.id
        record.context["record_name"] = record.name
    return drafts


# Batches and runs


def schedule_batches(rng, records):
    """Schedule every flow's batches over the data window and choose their records.

    Batch ids are numbered per day in start order. Every other flow starts later in the
    day than the onboarding flow at 10:15:30, so the documented batch of 2024-06-01 is
    that day's first, batch_20240601_001.
    """
    starts = []
    for day_index in range((LAST_DAY - FIRST_DAY).days + 1):
        day = FIRST_DAY + timedelta(days=day_index)
        for flow in FLOWS:
            if day_index % flow.every_days == 0:
                starts.append((datetime.combine(day, flow.start_time, tzinfo=timezone.utc), flow))
    starts.sort(key=lambda start: (start[0], start[1].flow_id))

    batches = []
    per_day = {}
    for started_at, flow in starts:
        day = started_at.strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        batch = Batch(f"batch_{day}_{per_day[day]:03d}", flow, started_at, started_at.date() == LAST_DAY)
        batch.records = choose_batch_records(rng, batch, records)
        batches.append(batch)
    return batches


def choose_batch_records(rng, batch, records):
    flow = batch.flow
    template = FLOW_TEMPLATES[flow.template]
    eligible = [
        record for record in records
        if record.organization_id == flow.organization_id
        and record.record_type in template.record_types
        and record.created_at < batch.started_at
        and record.id not in (DOCUMENTED_RECORD_ID, BUSIEST_RECORD_ID)
    ]
    chosen = rng.sample(eligible, min(rng.randint(*flow.batch_size), len(eligible)))

    if flow.flow_id in BUSIEST_RECORD_FLOWS:
        busiest = next(record for record in records if record.id == BUSIEST_RECORD_ID)
        chosen.insert(rng.randint(0, len(chosen)), busiest)
    return chosen


def build_batch_rows(rng, batch, session_ids):
    """Build the step results of every run in a batch. Runs start one after another and may overlap."""
    rows = []
    started_at = batch.started_at

    if is_documented_batch(batch):
        # The documented record gets only the documented row, so that its response matches
        # the documentation. The other records of the batch run normally after it.
        rows.append(documented_row())
        session_ids.add(DOCUMENTED_EXAMPLE_ROW["executionSessionId"])
        started_at += timedelta(seconds=20)

    for record in batch.records:
        run = start_run(rng, batch, record, started_at, session_ids)
        rows.extend(build_run_rows(rng, run))
        started_at += timedelta(milliseconds=rng.randint(*RUN_SPACING_RANGE_MS))
    return rows


def is_documented_batch(batch):
    documented_start = parse_timestamp(DOCUMENTED_EXAMPLE_ROW["startedAt"])
    return batch.flow.flow_id == DOCUMENTED_EXAMPLE_ROW["flowId"] and batch.started_at == documented_start


def documented_row():
    """Return the documented example as a full row: the fields added since the documentation are null."""
    row = dict.fromkeys(STEP_RESULT_FIELDS)
    row.update(DOCUMENTED_EXAMPLE_ROW)
    for name in TIMESTAMP_FIELDS:
        row[name] = parse_timestamp(row[name])
    return row


def start_run(rng, batch, record, started_at, session_ids):
    """Start a run: choose its session id, engine, and the model of each AI step."""
    steps = FLOW_TEMPLATES[batch.flow.template].steps
    models = {}
    efforts = {}
    for index, step in enumerate(steps):
        if not step.models:
            continue
        models[index] = step.models[0] if rng.random() < PRIMARY_MODEL_RATE else rng.choice(step.models)
        if models[index] in REASONING_MODELS:
            efforts[index] = rng.choices(REASONING_EFFORTS, REASONING_EFFORT_WEIGHTS)[0]

    engine = None
    if started_at >= ENGINE_FIELDS_SINCE:
        engine = rng.choices(ENGINES, ENGINE_WEIGHTS)[0]

    context = dict(record.context, record_name=record_name_at(record, started_at), user_id=batch.flow.owner_id)
    session_id = new_session_id(rng, started_at, session_ids)
    return Run(batch, record, session_id, started_at, engine, models, efforts, context)


def new_session_id(rng, started_at, session_ids):
    """Draw a session id of the form session_YYYYMMDD_xxxxxx that is not in session_ids, and add it."""
    while True:
        suffix = "".join(rng.choices(SESSION_ID_ALPHABET, k=6))
        session_id = f"session_{started_at:%Y%m%d}_{suffix}"
        if session_id not in session_ids:
            session_ids.add(session_id)
            return session_id


def record_name_at(record, moment):
    if record.id == BUSIEST_RECORD_ID and moment < BUSIEST_RECORD_RENAMED_AT:
        return BUSIEST_RECORD_FORMER_NAME
    return record.name


def flow_version_on(flow, day):
    current = flow.versions[0][1]
    for first_day, version_id in flow.versions:
        if first_day <= day:
            current = version_id
    return current


def build_run_rows(rng, run):
    """Build one row per step of the run's flow, in step order."""
    steps = FLOW_TEMPLATES[run.batch.flow.template].steps
    outcome, stop = choose_outcome(rng, run)
    plans = plan_run(rng, run, outcome, stop)
    return [build_row(rng, run, index, step, plan) for index, (step, plan) in enumerate(zip(steps, plans))]


def choose_outcome(rng, run):
    """Choose how the run ends: the outcome and the index of the step where it stops.

    A completed run stops after its last step, and a pending run before its first.
    """
    steps = FLOW_TEMPLATES[run.batch.flow.template].steps
    weights = LAST_DAY_OUTCOMES if run.batch.in_progress else FINISHED_OUTCOMES
    outcome = rng.choices(list(weights), list(weights.values()))[0]

    if outcome == "completed":
        return outcome, len(steps)
    if outcome == "pending":
        return outcome, 0
    if outcome == "paused":
        # A run waits for manual approval at its conditional step, or else at its first AI step.
        conditionals = [index for index, step in enumerate(steps) if step.step_type == "conditional"]
        model_calls = [index for index, step in enumerate(steps) if step.step_type in AI_STEP_TYPES]
        return outcome, (conditionals or model_calls)[0]
    return outcome, rng.randrange(len(steps))


def plan_run(rng, run, outcome, stop):
    """Plan the status and timestamps of every step of a run that ends with outcome at step stop."""
    steps = FLOW_TEMPLATES[run.batch.flow.template].steps
    clock = run.started_at
    condition_holds = rng.random() >= CONDITION_FALSE_RATE

    if outcome == "pending":
        created_at = stamp(run, clock)
        return [StepPlan("pending", created_at) for _ in steps]

    plans = []
    for index, step in enumerate(steps):
        if index == stop:
            plan, stopped_at = plan_stopping_step(rng, run, step, index, outcome, clock)
            plans.append(plan)
            status = follow_on_status(run, outcome)
            plans.extend(StepPlan(status, stopped_at) for _ in steps[index + 1:])
            return plans

        plan = plan_completed_step(rng, run, step, index, clock)
        plans.append(plan)
        clock = plan.completed_at

        if step.step_type == "conditional" and not condition_holds:
            plan.condition_holds = False
            plans.extend(StepPlan("skipped", clock) for _ in steps[index + 1:])
            return plans
    return plans


def plan_completed_step(rng, run, step, index, clock):
    retries = 0
    if rng.random() < COMPLETED_RETRY_RATE:
        retries = rng.randint(1, MAX_RETRIES - 1)

    created_at, started_at = start_step(rng, run, clock)
    duration_ms = draw_duration_ms(rng, run, step, index) + retry_backoff_ms(retries)
    completed_at = stamp(run, started_at + timedelta(milliseconds=duration_ms))
    return StepPlan("completed", created_at, started_at, completed_at, retries)


def plan_stopping_step(rng, run, step, index, outcome, clock):
    """Plan the step where a run stops, and return it with the moment the run stopped.

    Steps after it are created at that moment.
    """
    created_at, started_at = start_step(rng, run, clock)
    ended_at = stamp(run, started_at + timedelta(milliseconds=draw_duration_ms(rng, run, step, index)))

    if outcome == "failed":
        error = rng.choice(STEP_ERRORS[step.step_type])
        retries = MAX_RETRIES if error.retried else 0
        ended_at = stamp(run, ended_at + timedelta(milliseconds=retry_backoff_ms(retries)))
        return StepPlan("failed", created_at, started_at, ended_at, retries, error=error), ended_at
    if outcome == "cancelled":
        return StepPlan("cancelled", created_at, started_at, ended_at), ended_at
    if outcome == "interrupted":
        # The step never completed, and the engine noticed the lost worker at ended_at.
        return StepPlan("interrupted", created_at, started_at), ended_at
    if outcome == "queued":
        return StepPlan("queued", created_at), created_at
    return StepPlan(outcome, created_at, started_at), created_at


def follow_on_status(run, outcome):
    """Return the status of the steps after the one where a run stopped."""
    if outcome in ("running", "queued", "paused"):
        return "pending"
    # After a failure, the runtime and external engines skip the remaining steps, while
    # the legacy engine, like the engine before it, cancels them.
    if outcome == "failed" and run.engine in ("runtime", "external"):
        return "skipped"
    return "cancelled"


def start_step(rng, run, clock):
    """Return createdAt and startedAt of a step created shortly after clock.

    A few steps of the runtime engine wait in its queue, so they start later than they are created.
    """
    created_at = clock + timedelta(milliseconds=rng.randint(*STEP_GAP_RANGE_MS))
    started_at = created_at
    if run.engine == "runtime" and rng.random() < QUEUE_WAIT_RATE:
        started_at = created_at + timedelta(milliseconds=rng.randint(*QUEUE_WAIT_RANGE_MS))
    return stamp(run, created_at), stamp(run, started_at)


def draw_duration_ms(rng, run, step, index):
    duration_ms = rng.randint(*DURATION_RANGES_MS[step.step_type])
    if run.models.get(index) in REASONING_MODELS:
        duration_ms *= REASONING_SLOWDOWN
    return duration_ms


def retry_backoff_ms(retries):
    """Return the total wait before the given number of retries: 1 s, then 2 s, then 4 s."""
    return sum(1000 * 2**attempt for attempt in range(retries))


def stamp(run, moment):
    """Truncate moment to whole seconds for the engines that store second precision."""
    if run.engine in SECOND_PRECISION_ENGINES:
        return moment.replace(microsecond=0)
    return moment


# Rows


def build_row(rng, run, index, step, plan):
    """Build the step result of one planned step, with every field in the contract's order."""
    flow = run.batch.flow
    row = dict.fromkeys(STEP_RESULT_FIELDS)
    row.update({
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "userId": flow.owner_id,
        "organizationId": flow.organization_id,
        "batchExecutionId": run.batch.batch_id,
        "executionSessionId": run.session_id,
        "flowId": flow.flow_id,
        "flowVersionId": flow_version_on(flow, run.started_at.date()),
        "recordId": run.record.id,
        "recordName": run.context["record_name"],
        "stepId": step.step_id,
        "stepType": step.step_type,
        "stepName": step.name,
        # The external engine reports steps without their position in the flow.
        "order": None if run.engine == "external" else index + 1,
        "status": plan.status,
        "startedAt": plan.started_at,
        "completedAt": plan.completed_at,
        "durationMs": duration_between(plan.started_at, plan.completed_at),
        "createdAt": plan.created_at,
        "retryCount": None if run.engine is None else plan.retry_count,
        "executionEngine": run.engine,
    })

    describe_result(rng, run, index, step, plan, row)

    if step.step_type in AI_STEP_TYPES:
        fill_model_fields(rng, run, index, step, plan, row)
    elif run.engine is not None and step.config is not None:
        row["stepConfig"] = deepcopy(step.config)
    return row


def duration_between(started_at, completed_at):
    if started_at is None or completed_at is None:
        return None
    return (completed_at - started_at) // timedelta(milliseconds=1)


def describe_result(rng, run, index, step, plan, row):
    """Set outputPreview or errorMessage from the step's status."""
    context = dict(run.context, model=run.models.get(index, ""))

    if plan.status == "completed":
        if step.step_type == "conditional":
            output = step.outputs[0] if plan.condition_holds else step.outputs[1]
        else:
            output = rng.choice(step.outputs)
        row["outputPreview"] = Template(output).substitute(context)
    elif plan.status == "failed":
        row["errorMessage"] = Template(plan.error.message).substitute(context)
    elif plan.status == "cancelled" and plan.started_at is not None:
        row["errorMessage"] = CANCELLED_MESSAGE.substitute(context)
    elif plan.status == "interrupted":
        row["errorMessage"] = INTERRUPTED_MESSAGE
    elif plan.status == "paused":
        row["outputPreview"] = PAUSED_OUTPUT


def fill_model_fields(rng, run, index, step, plan, row):
    """Set the model, prompt, token, cost and reasoning fields of an AI step."""
    model = run.models[index]
    effort = run.efforts.get(index)
    if run.engine is not None:
        row["stepConfig"] = model_step_config(step, model, effort)
    if plan.started_at is None:
        return

    prompt = Template(step.prompt)
    row["modelUsed"] = model
    row["resolvedPrompt"] = prompt.substitute(run.context)

    if run.engine is not None:
        row["inputVariables"] = {name: run.context[name] for name in prompt.get_identifiers()}
        if effort is not None:
            row["reasoningRequested"] = True
            row["reasoningConfig"] = {"effort": effort}
    if run.engine == "runtime":
        # The runtime engine stores a snapshot of the record's metadata with each model call.
        row["recordMetadata"] = deepcopy(run.record.metadata)

    billed = plan.status == "completed" or (plan.status == "failed" and plan.error.billed)
    if billed:
        row.update(draw_token_usage(rng, run, step, model))


def model_step_config(step, model, effort):
    response_format = "json" if step.outputs[0].startswith("{") else "text"
    config = {"model": model, "maxOutputTokens": 1024, "responseFormat": response_format}
    if effort is None:
        config["temperature"] = 0.2
    else:
        config["reasoningEffort"] = effort
    return config


def draw_token_usage(rng, run, step, model):
    """Draw the token counts of one model call and return them with the estimated cost."""
    prompt_tokens = rng.randint(*PROMPT_TOKEN_RANGES[step.step_type])
    completion_tokens = rng.randint(*COMPLETION_TOKEN_RANGES[step.step_type])

    reasoning_tokens = None
    if model in REASONING_MODELS:
        # Reasoning tokens are billed as output, so completionTokens includes them.
        reasoning_tokens = rng.randint(*REASONING_TOKEN_RANGE)
        completion_tokens += reasoning_tokens

    usage = {
        "promptTokens": prompt_tokens,
        "completionTokens": completion_tokens,
        "totalTokens": prompt_tokens + completion_tokens,
    }
    if run.engine is None:
        usage["estimatedCost"] = estimate_cost(model, prompt_tokens, completion_tokens)
        return usage

    cache_read_tokens, cache_write_tokens = draw_cache_tokens(rng, model, prompt_tokens)
    usage["estimatedCost"] = estimate_cost(model, prompt_tokens, completion_tokens, cache_read_tokens)
    usage["cacheReadTokens"] = cache_read_tokens
    usage["cacheWriteTokens"] = cache_write_tokens
    usage["reasoningTokens"] = reasoning_tokens
    return usage


def draw_cache_tokens(rng, model, prompt_tokens):
    """Draw cacheReadTokens and cacheWriteTokens, both counted within promptTokens.

    cacheWriteTokens is None for models whose API does not report cache writes.
    """
    cache_read_tokens = 0
    cache_write_tokens = 0 if model in CACHE_WRITE_MODELS else None
    if prompt_tokens < MIN_CACHED_PROMPT_TOKENS:
        return cache_read_tokens, cache_write_tokens

    if rng.random() < CACHE_READ_RATE:
        cache_read_tokens = rng.randint(MIN_CACHED_PROMPT_TOKENS, prompt_tokens)
    elif cache_write_tokens is not None and rng.random() < CACHE_WRITE_RATE:
        cache_write_tokens = rng.randint(MIN_CACHED_PROMPT_TOKENS, prompt_tokens)
    return cache_read_tokens, cache_write_tokens


def estimate_cost(model, prompt_tokens, completion_tokens, cache_read_tokens=0):
    """Estimate the USD cost of one model call from MODEL_PRICES, as plain decimal text.

    Prompt tokens read from the cache cost the cached-input price, and all other prompt
    tokens, cache writes included, the input price. The cost is rounded half up to 8
    decimal places, and trailing zeros are dropped.
    """
    price = MODEL_PRICES[model]
    uncached_tokens = prompt_tokens - cache_read_tokens
    cost_per_million = (
        uncached_tokens * price.input
        + cache_read_tokens * price.cached_input
        + completion_tokens * price.output
    )
    cost = (cost_per_million / TOKENS_PER_PRICE_UNIT).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
    return format_decimal(cost)


def format_decimal(number):
    """Format a Decimal as plain text without exponent or trailing zeros, such as "0.00015"."""
    return format(number.normalize(), "f")


def add_reasoning_rejections(rows):
    """Mark a few model calls of the busiest record as reasoning requests that the model rejected.

    The marked rows are completed calls of the runtime engine on a model without reasoning support.
    """
    marked = 0
    for row in rows:
        eligible = (
            row["recordId"] == BUSIEST_RECORD_ID
            and row["status"] == "completed"
            and row["executionEngine"] == "runtime"
            and row["modelUsed"] in MODEL_PRICES
            and row["modelUsed"] not in REASONING_MODELS
        )
        if not eligible:
            continue

        row["reasoningRequested"] = True
        row["stepConfig"]["reasoningEffort"] = "medium"
        row["reasoningRejection"] = {
            "code": "unsupported_model",
            "message": f"{row['modelUsed']} does not support reasoning, so the step ran without it",
        }
        marked += 1
        if marked == REASONING_REJECTION_COUNT:
            return


def set_updated_at(records, rows):
    """Set each record's updatedAt to its last change: creation, rename or a completed record-upsert step."""
    last_upsert = {}
    for row in rows:
        if row["stepType"] == "record-upsert" and row["status"] == "completed":
            previous = last_upsert.get(row["recordId"], row["completedAt"])
            last_upsert[row["recordId"]] = max(previous, row["completedAt"])

    for record in records:
        changes = [record.created_at]
        if record.id in last_upsert:
            changes.append(last_upsert[record.id])
        if record.id == BUSIEST_RECORD_ID:
            changes.append(BUSIEST_RECORD_RENAMED_AT)
        record.updated_at = max(changes)


# Serialization


def serialize_record(record):
    return {
        "id": record.id,
        "name": record.name,
        "type": record.record_type,
        "organizationId": record.organization_id,
        "userId": record.user_id,
        "metadata": deepcopy(record.metadata),
        "createdAt": format_timestamp(record.created_at),
        "updatedAt": format_timestamp(record.updated_at),
    }


def serialize_row(row):
    serialized = dict(row)
    for name in TIMESTAMP_FIELDS:
        if serialized[name] is not None:
            serialized[name] = format_timestamp(serialized[name])
    return serialized


def format_timestamp(moment):
    """Format a UTC datetime as the API does, such as 2024-06-01T10:15:30Z or 2024-06-01T10:15:30.250Z."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    milliseconds = moment.microsecond // 1000
    if milliseconds:
        text += f".{milliseconds:03d}"
    return text + "Z"


def parse_timestamp(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def print_demo_keys():
    """Print each demo API key with its purpose, for people exploring the demo data."""
    for purpose, key in DEMO_KEYS.items():
        print(f"{purpose:24} {key}")


if __name__ == "__main__":
    print_demo_keys()
