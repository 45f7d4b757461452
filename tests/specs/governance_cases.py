"""Malformed governance keys and people nodes, with their expected located errors.

As in ``error_cases.py``: every issue expected, in file order, as ``(line:column, field path, a
fragment of the message, the suggestion or None)``. ``CLERK`` is 7 lines; the agent's governance
keys start on line 8.
"""

from __future__ import annotations

from .error_cases import Case

CLERK = (
    "version: 1\ntools:\n  refund: 'gov_helpers:refund'\nagents:\n  clerk:\n"
    "    model: 'openai:x'\n    tools: [refund]\n"
)
END = "workflow: {agent: clerk}\n"
STEPS = "version: 1\nworkflow:\n  sequential:\n    name: s\n    steps:\n"  # 5 lines
KINDS = "pii, prompt_injection, max_size, schema, deny_list, allow_list, function, judge"
ROLE = "is not a valid role (1-64 letters, digits, '_', '.', ':', '@' or '-')"
BOOL = "expected true or false, got an integer 1"
GUARD = "agents.clerk.guardrails"
RULE = "agents.clerk.approvals.refund"
APPROVAL = "workflow.sequential.steps[0].approval"
INPUT = "workflow.sequential.steps[1].input"
ESCALATION = "workflow.sequential.steps[2].escalation"


def _guards(*lines: str) -> str:
    return CLERK + "    guardrails:\n" + "".join(f"      {line}\n" for line in lines) + END


GOVERNANCE_CASES = [
    Case(
        "approval for an unknown tool",
        CLERK + "    approvals:\n      refnd: {role: cfo}\n" + END,
        [("9:7", "agents.clerk.approvals.refnd", "'refnd', which is not a tool of", "refund")],
    ),
    Case(
        "approval for a tool named by itself",
        CLERK.replace("[refund]", "[refund, 'gov_helpers:status_of_order']")
        + "    approvals:\n      order_statu: {}\n"
        + END,
        [("9:7", "agents.clerk.approvals.order_statu", "not a tool of", "order_status")],
    ),
    Case(
        "approval predicate typo",
        CLERK + "    approvals:\n      refund: {when: 'gov_helpers:over_tn'}\n" + END,
        [("9:22", f"{RULE}.when", "'gov_helpers' has no attribute 'over_tn'", "over_ten")],
    ),
    Case(
        "approval predicate is not a function",
        CLERK + "    approvals:\n      refund: {when: 'gov_helpers:Quote'}\n" + END,
        [("9:22", f"{RULE}.when", "'gov_helpers:Quote' is not a function", None)],
    ),
    Case(
        "escalation without a role and a delay",
        CLERK
        + "    approvals:\n      refund:\n        role: cfo\n        on_expiry: escalate\n"
        + END,
        [("11:9", f"{RULE}.on_expiry", "'escalate' needs escalate_to and expires_after", None)],
    ),
    Case(
        "bad role and expiry typo",
        CLERK + "    approvals:\n      refund: {role: 'the cfo', on_expiry: escalat}\n" + END,
        [
            ("9:22", f"{RULE}.role", f"'the cfo' {ROLE}", None),
            ("9:44", f"{RULE}.on_expiry", "'escalat' is not one of 'deny', 'escalate'", "escalate"),
        ],
    ),
    Case(
        "untrusted, scopes and identity",
        CLERK + "    untrusted: aprove\n    scopes: payments\n    identity: ''\n" + END,
        [
            ("8:16", "agents.clerk.untrusted", "'aprove' is not one of 'approve'", "approve"),
            ("9:13", "agents.clerk.scopes", "expected a list, got a string 'payments'", None),
            ("10:15", "agents.clerk.identity", "must not be empty", None),
        ],
    ),
    Case(
        "budget values",
        CLERK + "    budget: {tokens: 1.5, cost_usd: true, wall_seconds: .inf, step: 3}\n" + END,
        [
            ("8:22", "agents.clerk.budget.tokens", "expected an integer, got a number 1.5", None),
            ("8:37", "agents.clerk.budget.cost_usd", "expected a number, got a boolean", None),
            ("8:57", "agents.clerk.budget.wall_seconds", "must be a finite number", None),
            ("8:63", "agents.clerk.budget.step", "unknown key 'step'", "steps"),
        ],
    ),
    Case(
        "budget below zero and as text",
        CLERK + "    budget:\n      tokens: -1\n      fan_out: '2'\n" + END,
        [
            ("9:15", "agents.clerk.budget.tokens", "must be >= 0, got -1", None),
            ("10:16", "agents.clerk.budget.fan_out", "expected an integer, got a string", None),
        ],
    ),
    Case(
        "guardrail kinds",
        _guards(
            "- pi: {}", "- stages: input", "  functon: 'gov_helpers:no_secrets'", "- pii"
        ).replace(END, "      - {}\n      - {pii: {}, max_size: {max_chars: 9}}\n" + END),
        [
            ("9:9", f"{GUARD}[0].pi", "unknown guardrail kind 'pi'", "pii"),
            ("11:9", f"{GUARD}[1].functon", "unknown guardrail kind 'functon'", "function"),
            ("12:9", f"{GUARD}[2]", f"a guardrail must be a mapping with one of: {KINDS}", None),
            ("13:9", f"{GUARD}[3]", f"empty guardrail: expected one of {KINDS}", None),
            ("14:19", f"{GUARD}[4].max_size", "exactly one kind, found 'pii' and 'max_size'", None),
        ],
    ),
    Case(
        "guardrail options",
        _guards(
            "- pii: {kinds: [emial], action: redacts, stages: [inptu]}",
            "- max_size: {max_chars: 0, action: redact}",
            "- prompt_injection: {threshold: 0, stages: {input: true}}",
        ),
        [
            ("9:23", f"{GUARD}[0].pii.kinds[0]", "unknown PII kind 'emial'", "email"),
            ("9:39", f"{GUARD}[0].pii.action", "'redacts' is not one of", "redact"),
            ("9:57", f"{GUARD}[0].pii.stages[0]", "'inptu' is not one of 'input'", "input"),
            ("10:31", f"{GUARD}[1].max_size.max_chars", "must be >= 1, got 0", None),
            ("10:42", f"{GUARD}[1].max_size.action", "'redact' is not one of 'block'", None),
            ("11:39", f"{GUARD}[2].prompt_injection.threshold", "must be > 0.0, got 0", None),
            ("11:50", f"{GUARD}[2].prompt_injection.stages", "stages is input, output", None),
        ],
    ),
    Case(
        "guardrails refused by their constructors",
        _guards(
            "- deny_list: {patterns: ['(']}",
            "- allow_list: {field: to}",
            "- max_size: {action: flag}",
            "- schema: {type: 'gov_helpers:over_ten'}",
        ),
        [
            ("9:9", f"{GUARD}[0].deny_list", "pattern '(' is not a valid regular expression", None),
            ("10:9", f"{GUARD}[1].allow_list", "AllowList needs values or patterns", None),
            ("11:9", f"{GUARD}[2].max_size", "MaxSize needs max_chars, max_items or both", None),
            ("12:24", f"{GUARD}[3].schema.type", "is not a type (got function)", None),
        ],
    ),
    Case(
        "function guardrails",
        _guards(
            "- function: 'gov_helpers:async_check'",
            "- function: 'gov_helpers:NOT_A_GUARD'",
            "- function: 'gov_helpers:EMAILS_ONLY'",
            "  stages: input",
        ),
        [
            ("9:9", f"{GUARD}[0].function", "'async_check' is async; guardrails are pure", None),
            ("10:19", f"{GUARD}[1].function", "is not a function nor a guardrail", None),
            ("11:19", f"{GUARD}[2].function", "is a guardrail already: set stages in Python", None),
        ],
    ),
    Case(
        "function guardrail option typo",
        _guards("- function: 'gov_helpers:no_secrets'", "  stage: input"),
        [("10:9", f"{GUARD}[0].stage", "unknown key 'stage'", "stages")],
    ),
    Case(
        "judge typo",
        _guards("- judge: {agent: clrek, action: redact}"),
        [
            ("9:24", f"{GUARD}[0].judge.agent", "unknown agent 'clrek'", "clerk"),
            ("9:39", f"{GUARD}[0].judge.action", "'redact' is not one of 'block', 'flag'", None),
        ],
    ),
    Case(
        "judge of itself",
        _guards("- judge: {agent: clerk}"),
        [("9:24", f"{GUARD}[0].judge.agent", "agent 'clerk' cannot judge itself", None)],
    ),
    Case(
        "judges in a cycle",
        CLERK + "    guardrails: [{judge: {agent: critic}}]\n  critic:\n    model: 'openai:x'\n"
        "    guardrails: [{judge: {agent: clerk}}]\n" + END,
        [
            (
                "11:34",
                "agents.critic.guardrails[0].judge.agent",
                "agents judge each other in a cycle: clerk -> critic -> clerk",
                None,
            )
        ],
    ),
    Case(
        "people nodes",
        STEPS + "      - approval: {name: a, prompt: '', role: 'x y', on_expiry: never}\n"
        "      - input: {name: i, question: q, answer_type: innt, expires_after: 0}\n"
        "      - escalation: {name: e, node: {agent: nobody}, min_confidence: 2, on_error: 1}\n",
        [
            ("6:37", f"{APPROVAL}.prompt", "must not be empty", None),
            ("6:47", f"{APPROVAL}.role", f"'x y' {ROLE}", None),
            ("6:65", f"{APPROVAL}.on_expiry", "'never' is not one of 'deny', 'escalate'", None),
            ("7:52", f"{INPUT}.answer_type", "unknown output type 'innt'", "int"),
            ("7:73", f"{INPUT}.expires_after", "must be > 0.0, got 0", None),
            ("8:45", f"{ESCALATION}.node.agent", "unknown agent 'nobody'", None),
            ("8:70", f"{ESCALATION}.min_confidence", "must be <= 1.0, got 2", None),
            ("8:83", f"{ESCALATION}.on_error", BOOL, None),
        ],
    ),
    Case(
        "people nodes refused by their constructors",
        STEPS + "      - approval: {name: a, prompt: '  '}\n"
        "      - input: {name: i, question: q, answer_type: 'gov_helpers:flaky'}\n"
        "      - escalation: {name: a, node: {function: 'gov_helpers:flaky'}}\n",
        [
            ("6:9", APPROVAL, "approval 'a': prompt must say what is to be approved", None),
            ("7:52", f"{INPUT}.answer_type", "'gov_helpers:flaky' is not a type", None),
            (
                "8:28",
                f"{ESCALATION}.name",
                "duplicate node name 'a' (first used at workflow.sequential.steps[0].approval)",
                None,
            ),
        ],
    ),
    Case(
        "approval node escalating to nobody",
        "version: 1\nworkflow:\n  approval:\n    name: a\n    prompt: Go\n"
        "    expires_after: 60\n    on_expiry: escalate\n",
        [("7:5", "workflow.approval.on_expiry", "'escalate' needs escalate_to", None)],
    ),
]
