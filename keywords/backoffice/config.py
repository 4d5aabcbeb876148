"""One settings object for every robot, the CLI and the web app.

Values come, highest first, from: environment variables ``BACKOFFICE_*``; an env file
(``BACKOFFICE_ENV_FILE``, default ``.env`` when present); for secrets, a vault file in
the Robocorp local vault format (``RPA_SECRET_FILE``), or Robocorp Control Room's vault
when the robot runs there; then the defaults, which are the embedded parts (a Maildir
mailbox, a SQLite store and an outbox folder under ``BACKOFFICE_HOME``).

Secrets are ``SecretStr``: they print as ``**********`` and are revealed only where a
connection is opened.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backoffice.errors import ConfigurationError

Security = Literal["ssl", "starttls", "none"]

#: Settings that hold secrets; only these are read from a vault.
SECRET_FIELDS = (
    "database_url",
    "imap_password",
    "imap_oauth2_token",
    "smtp_password",
    "smtp_fallback_password",
    "web_session_secret",
    "invoice_hook_token",
    "access_webhook_secret",
)


def _csv(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item).strip() for item in value if str(item).strip()]


class Settings(BaseSettings):
    """Every setting of the suite. The README's settings table is generated from this."""

    model_config = SettingsConfigDict(
        env_prefix="BACKOFFICE_",
        env_file=os.environ.get("BACKOFFICE_ENV_FILE", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- where things live -------------------------------------------------------
    home: Path = Field(
        Path("var"), description="Folder for the embedded store, blobs, mailbox and outbox."
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the store; empty means SQLite at HOME/backoffice.db. "
        "Use postgresql+psycopg://user:pass@host/db when several robots share the work "
        "(secret: it may hold a password).",
    )
    worker_id: str = Field(
        "", description="Name of this robot process in leases; empty means host:pid."
    )
    lease_seconds: int = Field(
        300, description="How long a claimed record stays claimed before others may take it."
    )

    # --- mail intake ---------------------------------------------------------------
    mail_source: Literal["maildir", "imap"] = Field(
        "maildir", description="Where intake reads mail: the embedded Maildir or an IMAP server."
    )
    maildir: Path | None = Field(
        None, description="Maildir read by intake; empty means HOME/mailbox."
    )
    imap_host: str = Field("", description="IMAP server host name.")
    imap_port: int = Field(0, description="IMAP port; 0 means 993 for ssl, 143 otherwise.")
    imap_security: Security = Field("ssl", description="ssl, starttls or none (loopback only).")
    imap_user: str = Field("", description="IMAP user name.")
    imap_password: SecretStr | None = Field(None, description="IMAP password (secret).")
    imap_oauth2_token: SecretStr | None = Field(
        None, description="XOAUTH2 access token, used instead of the password (secret)."
    )
    imap_folder: str = Field("INBOX", description="Folder intake reads.")
    imap_search: str = Field(
        "ALL",
        description='IMAP search criteria, e.g. UNSEEN or SUBJECT "faktura" (non-ASCII allowed).',
    )
    imap_processed_folder: str = Field(
        "Processed",
        description="Folder a message is moved to once stored; empty means flag it instead.",
    )
    imap_processed_flag: str = Field(
        "$BackofficeStored", description="Keyword set on stored messages when not moving."
    )
    imap_timeout: float = Field(60.0, description="IMAP socket timeout in seconds.")
    mail_max_age_days: int = Field(
        0, description="Ignore messages older than this many days; 0 means no limit."
    )
    sender_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma list of senders or *@domain accepted; empty means everyone.",
    )
    sender_deny: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma list of senders or *@domain refused."
    )
    max_message_bytes: int = Field(50_000_000, description="Largest raw message stored in full.")
    max_attachment_bytes: int = Field(25_000_000, description="Largest single attachment kept.")
    max_attachments: int = Field(100, description="Most attachments kept from one message.")
    max_nesting: int = Field(
        3, description="Deepest nesting of forwarded messages and archives unpacked."
    )
    zip_max_members: int = Field(200, description="Most files unpacked from one zip archive.")
    zip_max_total_bytes: int = Field(
        200_000_000, description="Most bytes unpacked from one zip archive."
    )
    zip_max_ratio: int = Field(
        100, description="Largest compression ratio accepted for a zip member (bomb guard)."
    )

    # --- outgoing mail -------------------------------------------------------------
    mail_from: str = Field(
        "Back office <backoffice@localhost>", description="From header of outgoing mail."
    )
    outbox_transport: Literal["maildir", "smtp"] = Field(
        "maildir", description="How the outbox delivers: the local outbox folder or SMTP."
    )
    outbox_dir: Path | None = Field(
        None, description="Maildir the embedded transport writes to; empty means HOME/outbox."
    )
    smtp_host: str = Field("", description="Primary SMTP server host name.")
    smtp_port: int = Field(0, description="SMTP port; 0 means 465 for ssl, 587 otherwise.")
    smtp_security: Security = Field("starttls", description="ssl, starttls or none.")
    smtp_user: str = Field("", description="SMTP user; empty means no authentication.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (secret).")
    smtp_fallback_host: str = Field(
        "", description="Fallback SMTP host used when the primary keeps failing."
    )
    smtp_fallback_port: int = Field(0, description="Fallback SMTP port.")
    smtp_fallback_security: Security = Field("starttls", description="Fallback SMTP security.")
    smtp_fallback_user: str = Field("", description="Fallback SMTP user.")
    smtp_fallback_password: SecretStr | None = Field(
        None, description="Fallback SMTP password (secret)."
    )
    smtp_timeout: float = Field(60.0, description="SMTP socket timeout in seconds.")
    tls_ca_file: Path | None = Field(
        None, description="Extra CA bundle to trust for SMTP and IMAP TLS (private CAs)."
    )
    outbox_max_attempts: int = Field(
        8, description="Attempts before a message is marked failed and queued for staff."
    )
    outbox_backoff_seconds: float = Field(
        30.0, description="First retry delay; doubles with each attempt."
    )
    outbox_backoff_max_seconds: float = Field(3600.0, description="Longest retry delay.")
    outbox_fallback_after: int = Field(
        2, description="Failed attempts on the primary SMTP before the fallback is used."
    )
    outbox_journal_address: str = Field(
        "",
        description="Address that receives a copy in the same SMTP transaction, used to "
        "settle sends a crash left in doubt (checked over IMAP with the JOURNAL_IMAP_* "
        "settings).",
    )
    journal_imap_user: str = Field(
        "", description="IMAP user of the journal mailbox (same server as IMAP_HOST)."
    )
    journal_imap_folder: str = Field("INBOX", description="Folder of the journal mailbox.")

    # --- incoming invoices ---------------------------------------------------------
    own_tax_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma list of our own tax IDs (NIP, INN, EU VAT); an invoice whose "
        "buyer is not one of them goes to review. Empty means the check is off.",
    )
    invoice_confidence_threshold: float = Field(
        0.6,
        description="A key invoice field read with less confidence than this goes to review.",
    )
    invoice_export_dir: Path | None = Field(
        None,
        description="Folder the accepted invoices are exported to (one JSON and one CSV "
        "each); empty means HOME/export/invoices.",
    )
    invoice_hook: str = Field(
        "",
        description="Accounting-system hook called once per accepted invoice with its export "
        "JSON: an http(s):// URL to POST to, or a command that reads the JSON on stdin. "
        "Empty means no hook.",
    )
    invoice_hook_token: SecretStr | None = Field(
        None, description="Bearer token sent with the HTTP hook (secret)."
    )
    invoice_hook_timeout: float = Field(
        60.0, description="Seconds the hook may take; longer means it is in doubt, for staff."
    )
    invoice_hook_max_attempts: int = Field(
        5, description="Hook attempts that surely failed before the invoice goes to staff."
    )
    invoice_correction_rounds: int = Field(
        2,
        description="Correction requests per invoice; a version still wrong after that many "
        "goes to review.",
    )
    invoice_reminder_days: float = Field(
        7.0,
        description="Days without a corrected invoice before one reminder; as many days "
        "after the reminder the case goes to review.",
    )

    # --- contracts -------------------------------------------------------------------
    contract_trust_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Comma list of PEM (or DER) files with the root certificates a digitally "
        "signed contract's chain must end in (e.g. the qualified trust service providers). "
        "Empty means no digital signature can be trusted: such contracts go to review.",
    )
    contract_revocation: Literal["off", "soft", "hard"] = Field(
        "soft",
        description="Revocation checking of signers' certificates: off; soft (use what is at "
        "hand, unknown is accepted); hard (unknown status sends the contract to review).",
    )
    contract_crls: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Comma list of CRL files (DER or PEM) used for revocation checking offline.",
    )
    contract_revocation_fetch: bool = Field(
        False, description="Fetch CRLs and OCSP answers over the network for revocation checks."
    )
    contract_correction_rounds: int = Field(
        2,
        description="Correction requests per contract; a version still wrong after that many "
        "goes to review.",
    )

    # --- issuing invoices (the seller is us) -------------------------------------------
    seller_name: str = Field("", description="Our legal name as printed on issued invoices.")
    seller_address: str = Field("", description="Our street and building number.")
    seller_postal_code: str = Field("", description="Our postal code.")
    seller_city: str = Field("", description="Our city.")
    seller_country: str = Field(
        "PL",
        description="Our ISO country code: PL issues a faktura VAT with a KSeF FA(3) file, "
        "RU a счёт-фактура with ИНН/КПП.",
    )
    seller_tax_id: str = Field("", description="Our NIP (PL), ИНН (RU) or EU VAT number.")
    seller_kpp: str = Field("", description="Our КПП (Russian sellers only).")
    seller_bank_account: str = Field(
        "", description="Account customers pay to: an IBAN, or the 20-digit расчётный счёт (RU)."
    )
    seller_bank_name: str = Field("", description="Name of our bank.")
    seller_bank_bic: str = Field("", description="SWIFT/BIC of our bank, or its БИК (RU).")
    seller_bank_corr_account: str = Field(
        "", description="Correspondent account (к/с) of our bank (Russian sellers only)."
    )
    invoice_series: str = Field("FV", description="Default invoice series (the {series} part).")
    invoice_number_format: str = Field(
        "{series}/{year}/{month}/{seq}",
        description="Invoice number format; {seq} counts per series and per period: per month "
        "when {month} is in it, per year with {year}, else never resets.",
    )
    invoice_seq_digits: int = Field(4, description="Zero padding of {seq} (4 gives 0042).")
    invoice_due_days: int = Field(14, description="Days from issue to payment due date.")
    invoice_contract_vat_rate: Decimal | None = Field(
        None,
        description="VAT rate (percent) of the invoice for a signed contract; empty means the "
        "standard rate of SELLER_COUNTRY (23 in PL, 20 in RU).",
    )
    invoice_timezone: str = Field(
        "Europe/Warsaw", description="Time zone whose calendar gives the issue date."
    )

    # --- access for paid invoices (provisioning) ---------------------------------------
    access_webhook_url: str = Field(
        "",
        description="http(s) URL the provisioning call is POSTed to once an invoice is paid in "
        "full (JSON body, X-Signature HMAC-SHA256 and Idempotency-Key headers). Empty means "
        "no webhook.",
    )
    access_webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the webhook's X-Signature: sha256=<hex HMAC-SHA256 of the body> "
        "(secret; required with ACCESS_WEBHOOK_URL).",
    )
    access_command: str = Field(
        "",
        description="Command run once per paid invoice with the same JSON on stdin and "
        "BACKOFFICE_IDEMPOTENCY_KEY in its environment; exit 0 is done, 75 try again. Empty "
        "means no command.",
    )
    access_timeout: float = Field(
        30.0, description="Seconds a provisioning call may take before it is tried again."
    )
    access_max_attempts: int = Field(
        8, description="Provisioning attempts (5xx, timeouts, exit 75) before staff take over."
    )
    access_backoff_seconds: float = Field(
        60.0, description="First wait before a provisioning call is tried again; doubles."
    )

    # --- receivables (reminders and escalation) ----------------------------------------
    receivables_reminder_days: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [7, 3, 2, 1, 0],
        description="Comma list of days before the due date on which the customer gets a "
        "payment reminder; default 7,3,2,1,0 (0 = on the due date, -5 = five days overdue).",
    )
    receivables_task_days: int = Field(
        1,
        description="Days overdue when the account manager gets a task (a review item and an "
        "email).",
    )
    receivables_escalation_days: int = Field(
        14, description="Days overdue when the invoice is escalated to the manager."
    )
    receivables_account_manager: str = Field(
        "", description="Email address of the account manager who gets the overdue tasks."
    )
    receivables_manager: str = Field(
        "", description="Email address of the manager overdue invoices are escalated to."
    )

    # --- payments (bank statements) ---------------------------------------------------
    own_accounts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma list of our bank accounts (IBAN, Polish NRB or Russian 20-digit "
        "account); a statement for any other account is rejected with a review item. Empty "
        "means SELLER_BANK_ACCOUNT; when that is empty too, the check is off.",
    )
    payments_watch_dir: Path | None = Field(
        None,
        description="Folder the payments robot imports statement files (CAMT.053/054/052, "
        "MT940) from; each file is moved to its done/ or failed/ subfolder once recorded. "
        "Empty means no folder (statements come by mail only).",
    )
    payment_senders: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma list of senders (address or *@domain) whose mailed statements and "
        "payment notifications count, when the mail's DKIM signature verifies for the "
        "sender's domain. Mail from anyone else is recorded and never counts as a payment. "
        "Empty means no mailed statement counts.",
    )

    # --- staff web app -------------------------------------------------------------
    web_host: str = Field(
        "127.0.0.1",
        description="Address backoffice serve listens on; keep 127.0.0.1 behind the proxy.",
    )
    web_port: int = Field(8080, description="Port backoffice serve listens on.")
    web_session_secret: SecretStr | None = Field(
        None,
        description="Key that signs staff session cookies (secret); empty means a random "
        "key per start, so staff sign in again after a restart.",
    )
    web_session_hours: float = Field(12.0, description="How long a staff sign-in lasts.")
    web_cookie_secure: bool = Field(
        False, description="Send the session cookie over HTTPS only (set behind an HTTPS proxy)."
    )
    web_sla_hours: float = Field(
        24.0,
        description="Hours a review item may wait before it counts as an SLA breach on the "
        "managers' dashboard.",
    )
    web_form_catalogue: Path | None = Field(
        None,
        description="YAML file of the products and services the public customer form "
        "(/request) offers: per product an id, its name in pl, ru and en, prices per "
        "currency and months it runs. Empty means the form is off.",
    )
    web_form_per_hour: int = Field(
        10,
        ge=1,
        description="Requests one client address may send through the public customer form "
        "per hour (counted in memory by each backoffice serve).",
    )
    web_form_offer_days: int = Field(
        14, ge=1, description="Days an offer requested through the customer form stays valid."
    )

    # --- secrets -----------------------------------------------------------------
    vault_secret: str = Field(
        "backoffice",
        description="Name of the vault secret whose keys (imap_password, smtp_password, ...) "
        "fill the secret settings.",
    )

    @field_validator("sender_allow", "sender_deny", "payment_senders", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> list[str]:
        return [item.lower() for item in _csv(value)]

    @field_validator("contract_trust_roots", "contract_crls", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> list[str]:
        return _csv(value)

    @field_validator("receivables_reminder_days", mode="before")
    @classmethod
    def _split_days(cls, value: Any) -> list[int]:
        try:
            days = sorted({int(item) for item in _csv(value)}, reverse=True)
        except ValueError as exc:
            raise ValueError("give whole days, e.g. 7,3,2,1,0") from exc
        return days

    @field_validator("own_accounts", mode="before")
    @classmethod
    def _split_accounts(cls, value: Any) -> list[str]:
        return _csv(value)

    @field_validator("own_tax_ids", mode="before")
    @classmethod
    def _split_tax_ids(cls, value: Any) -> list[str]:
        # Compact form, as printed IDs are compared: "PL 526-000-12-46" -> "PL5260001246".
        return ["".join(ch for ch in item if ch.isalnum()).upper() for item in _csv(value)]

    # --- derived values --------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        """The store URL, defaulting to the embedded SQLite file."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.home / 'backoffice.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        """Content-addressed files (raw mail, attachments)."""
        return self.home / "blobs"

    @property
    def resolved_maildir(self) -> Path:
        """The Maildir intake reads in embedded mode."""
        return self.maildir or self.home / "mailbox"

    @property
    def resolved_outbox_dir(self) -> Path:
        """The Maildir the embedded transport delivers to."""
        return self.outbox_dir or self.home / "outbox"

    def invoice_zone(self) -> ZoneInfo:
        """The time zone whose calendar dates invoices and contracts (checked)."""
        try:
            return ZoneInfo(self.invoice_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"BACKOFFICE_INVOICE_TIMEZONE {self.invoice_timezone!r} is not a time zone",
                code="INVOICE_TIMEZONE_INVALID",
            ) from exc

    @property
    def resolved_invoice_export_dir(self) -> Path:
        """Where accepted invoices are exported."""
        return self.invoice_export_dir or self.home / "export" / "invoices"

    @property
    def resolved_worker_id(self) -> str:
        """This process's name in leases."""
        return self.worker_id or f"{socket.gethostname()}:{os.getpid()}"

    def imap(self, user: str | None = None, folder: str | None = None) -> ImapAccount:
        """The IMAP account intake (or the outbox journal check) logs in to."""
        if not self.imap_host:
            raise ConfigurationError("BACKOFFICE_IMAP_HOST is not set", code="IMAP_NOT_CONFIGURED")
        port = self.imap_port or (993 if self.imap_security == "ssl" else 143)
        return ImapAccount(
            host=self.imap_host,
            port=port,
            security=self.imap_security,
            user=user or self.imap_user,
            password=self.imap_password,
            oauth2_token=self.imap_oauth2_token,
            folder=folder or self.imap_folder,
            timeout=self.imap_timeout,
            ca_file=self.tls_ca_file,
        )

    def smtp_servers(self) -> list[SmtpServer]:
        """Primary then fallback SMTP server, as configured."""
        servers = []
        for prefix in ("smtp", "smtp_fallback"):
            host = getattr(self, f"{prefix}_host")
            if not host:
                continue
            security = getattr(self, f"{prefix}_security")
            port = getattr(self, f"{prefix}_port") or (465 if security == "ssl" else 587)
            servers.append(
                SmtpServer(
                    name="primary" if prefix == "smtp" else "fallback",
                    host=host,
                    port=port,
                    security=security,
                    user=getattr(self, f"{prefix}_user"),
                    password=getattr(self, f"{prefix}_password"),
                    timeout=self.smtp_timeout,
                    ca_file=self.tls_ca_file,
                )
            )
        return servers


@dataclass(frozen=True)
class ImapAccount:
    """Where and how to log in to one IMAP mailbox."""

    host: str
    port: int
    security: Security
    user: str
    password: SecretStr | None
    oauth2_token: SecretStr | None
    folder: str
    timeout: float
    ca_file: Path | None = None


@dataclass(frozen=True)
class SmtpServer:
    """One SMTP relay the outbox may use."""

    name: str
    host: str
    port: int
    security: Security
    user: str
    password: SecretStr | None
    timeout: float
    ca_file: Path | None = None


def _vault_values(secret_name: str) -> dict[str, str]:
    """Read the secret's keys from a local vault file or Control Room's vault."""
    path = os.environ.get("RPA_SECRET_FILE")
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigurationError(f"vault file {file} does not exist", code="VAULT_MISSING")
        text = file.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if file.suffix in {".yaml", ".yml"} else json.loads(text)
        secret = (data or {}).get(secret_name) or {}
        return {str(k).lower(): str(v) for k, v in secret.items()}
    if os.environ.get("RC_API_SECRET_HOST"):
        try:  # pragma: no cover - only under Robocorp Control Room
            from robocorp import vault  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover
            raise ConfigurationError(
                "running under Control Room but robocorp-vault is not installed",
                code="VAULT_UNAVAILABLE",
            ) from exc
        secret = vault.get_secret(secret_name)  # pragma: no cover
        return {str(k).lower(): str(secret[k]) for k in secret}  # pragma: no cover
    return {}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, filling unset secrets from the vault."""
    settings = Settings(**overrides)
    vault = _vault_values(settings.vault_secret)
    updates = {
        name: SecretStr(vault[name])
        for name in SECRET_FIELDS
        if getattr(settings, name) is None and vault.get(name)
    }
    return settings.model_copy(update=updates) if updates else settings


def settings_table() -> str:
    """The README's table of settings, generated from the model (one row per variable)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if field.default_factory is not None:
            default = ""
        shown = "" if default in (None, "") else str(default)
        rows.append(f"| `BACKOFFICE_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(rows)
