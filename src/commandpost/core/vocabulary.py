"""The shared words: severities, classes, roles and statuses (see DESIGN.md)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"

    @property
    def rank(self) -> int:
        """0 is the most severe."""
        return int(self.value[3:])

    @classmethod
    def parse(cls, text: str) -> Severity:
        from commandpost.errors import InvalidInput

        cleaned = text.strip().upper()
        if cleaned.isdigit():
            cleaned = f"SEV{cleaned}"
        try:
            return cls(cleaned)
        except ValueError:
            allowed = ", ".join(s.value.lower() for s in cls)
            raise InvalidInput(f"unknown severity {text!r}; use one of {allowed}") from None


class IncidentClass(StrEnum):
    FUNCTIONAL = "functional"
    HARMFUL_CONTENT = "harmful_content"
    DECEPTIVE_OUTPUT = "deceptive_output"
    DATA_LEAKAGE = "data_leakage"
    POLICY_VIOLATION = "policy_violation"
    BIAS_REGRESSION = "bias_regression"
    UNAUTHORIZED_TOOL_USE = "unauthorized_tool_use"
    PROMPT_INJECTION = "prompt_injection"
    NARRATIVE = "narrative"

    @classmethod
    def parse(cls, text: str) -> IncidentClass:
        from commandpost.errors import InvalidInput

        try:
            return cls(text.strip().lower().replace("-", "_"))
        except ValueError:
            allowed = ", ".join(c.value for c in cls)
            raise InvalidInput(f"unknown class {text!r}; use one of {allowed}") from None


class Role(StrEnum):
    INCIDENT_COMMANDER = "incident_commander"
    MODEL_OWNER = "model_owner"
    SAFETY_LEAD = "safety_lead"
    COMMS = "comms"
    LEGAL = "legal"
    PRODUCT_OWNER = "product_owner"
    COMPLIANCE_OBSERVER = "compliance_observer"
    CUSTOMER_LIAISON = "customer_liaison"
    SCRIBE = "scribe"

    @classmethod
    def parse(cls, text: str) -> Role:
        from commandpost.errors import InvalidInput

        key = text.strip().lower().replace("-", "_")
        key = _ROLE_ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            allowed = ", ".join(r.value for r in cls)
            raise InvalidInput(f"unknown role {text!r}; use one of {allowed}") from None


_ROLE_ALIASES = {"ic": "incident_commander", "owner": "model_owner", "safety": "safety_lead"}

CORE_ROLES: tuple[Role, ...] = (
    Role.INCIDENT_COMMANDER,
    Role.MODEL_OWNER,
    Role.SAFETY_LEAD,
    Role.COMMS,
)


class Status(StrEnum):
    DECLARED = "declared"
    INVESTIGATING = "investigating"
    CONTAINED = "contained"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @classmethod
    def parse(cls, text: str) -> Status:
        from commandpost.errors import InvalidInput

        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise InvalidInput(f"unknown status {text!r}; use one of {allowed}") from None
