"""Request and response schemas of /api/repos: GitHub's naming rules, the editable fields, pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, create_model, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from api.fields import LINE_PATTERN, NONBLANK_LINE_PATTERN, TEXT_PATTERN, documented, plain_text
from gh.names import NAME_MAX, NAME_PATTERN, OWNER_MAX, OWNER_PATTERN, URL_MAX, name_problem, owner_problem


def _checked(problem: Callable[[str], str | None]) -> Callable[[str], str]:
    """Return a validator that raises `problem`'s message as a per-field error."""

    def check(value: str) -> str:
        message = problem(value)
        if message:
            raise PydanticCustomError("github_name", message)
        return value

    return check


def _one_line(value: str) -> str:
    """Strip a one-line text; refuse it blank or with control characters."""
    value = plain_text(value).strip()
    if not value:
        raise PydanticCustomError("blank", "Must not be blank (use null to clear)")
    return value


def _multiline(value: str) -> str:
    """Refuse control characters other than line breaks and tabs."""
    return plain_text(value, multiline=True)


def _string(minimum: int, maximum: int, pattern: str | None = None) -> WithJsonSchema:
    """Document a string's rules in the schema (the validator checks them, with clearer messages)."""
    schema: dict[str, Any] = {"type": "string", "minLength": minimum, "maxLength": maximum}
    return WithJsonSchema({**schema, "pattern": pattern} if pattern else schema)


OwnerName = Annotated[str, AfterValidator(_checked(owner_problem)), _string(1, OWNER_MAX, OWNER_PATTERN)]
RepoName = Annotated[str, AfterValidator(_checked(name_problem)), _string(1, NAME_MAX, NAME_PATTERN)]
DisplayName = Annotated[str, Field(max_length=200), documented(NONBLANK_LINE_PATTERN), AfterValidator(_one_line)]
Description = Annotated[str, Field(max_length=2000), documented(TEXT_PATTERN), AfterValidator(_multiline)]
Tag = Annotated[str, Field(min_length=1, max_length=50), documented(NONBLANK_LINE_PATTERN), AfterValidator(_one_line)]
Filter = Annotated[str, Field(min_length=1, max_length=100), documented(LINE_PATTERN), AfterValidator(plain_text)]
PageNumber = Annotated[int, Field(ge=1, le=100_000, description="Page, from 1.")]
PerPage = Annotated[int, Field(ge=1, le=100, description="Items per page (1-100).")]


def _form(given: tuple[str, ...], absent: tuple[str, ...]) -> dict[str, Any]:
    """Return the JSON Schema of one accepted shape of a POST /api/repos body."""
    properties = {name: {"type": "string"} for name in given} | {name: {"type": "null"} for name in absent}
    return {"required": list(given), "properties": properties}


class RepoCreate(BaseModel):
    """`{"owner", "repo_name"}` or `{"url"}`; `owner_name` is an older name for `owner`."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"owner": "octo-owner", "repo_name": "tracker"},
                {"url": "https://github.com/octo/hello.git"},
                {"url": "https://gitlab.com/group/subgroup/project.git"},
            ],
            # Exactly one form: url alone, owner + repo_name, or owner_name + repo_name (nulls count as absent).
            "oneOf": [
                _form(given=("url",), absent=("owner", "owner_name", "repo_name")),
                _form(given=("owner", "repo_name"), absent=("url", "owner_name")),
                _form(given=("owner_name", "repo_name"), absent=("url", "owner")),
            ],
        },
    )
    owner: OwnerName | None = Field(None, description="Account (user or organisation) that owns it.")
    owner_name: OwnerName | None = Field(None, description="Older name for `owner`, still accepted.")
    repo_name: RepoName | None = Field(None, description="Repository name.")
    url: Annotated[str, Field(min_length=1, max_length=URL_MAX)] | None = Field(
        None,
        description="A GitHub repository: https://<github host>/<owner>/<repo>[.git][/] or "
        "git@<github host>:<owner>/<repo>.git; or a repository of any other git host: "
        "https://<host>/<namespace>/<repo>[.git] (http:// too; a local path only when "
        "ALLOW_LOCAL_REPOSITORIES is set), tracked from git alone with GitHub-only fields null.",
    )


EDITABLE = ("display_name", "description_override", "tags", "featured", "hidden", "paused", "public_metrics")


class _Editable(BaseModel):
    """A body of editable fields that names read-only ones in its errors."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def writable(cls, value: Any, info: Any) -> Any:
        """Refuse the repository's read-only fields, each with its own message."""
        if info.field_name not in EDITABLE:
            raise PydanticCustomError("read_only", "Read-only: set from GitHub or by refreshes")
        return value

    @field_validator("tags", mode="after", check_fields=False)
    @classmethod
    def unique(cls, tags: list[str]) -> list[str]:
        """Refuse a tag given twice (ignoring case)."""
        if len({t.lower() for t in tags}) != len(tags):
            raise PydanticCustomError("duplicate_tag", "Tags must be unique (ignoring case)")
        return tags


def _unchanged_when_absent(schema: dict[str, Any]) -> None:
    """Drop the documented default: a PATCH leaves absent fields alone."""
    schema.pop("default", None)


def _unique_unchanged_when_absent(schema: dict[str, Any]) -> None:
    """Document unique items, without a default (a PATCH leaves absent fields alone)."""
    _unchanged_when_absent(schema)
    schema["uniqueItems"] = True


class _PatchFields(_Editable):
    """The editable fields; absent ones stay as they are."""

    display_name: DisplayName | None = Field(
        None, description="Shown instead of the name; null clears it.", json_schema_extra=_unchanged_when_absent
    )
    description_override: Description | None = Field(
        None, description="Shown instead of GitHub's description.", json_schema_extra=_unchanged_when_absent
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=20,
        description="Up to 20 unique tags (ignoring case and surrounding spaces).",
        json_schema_extra=_unique_unchanged_when_absent,
    )
    featured: bool = Field(
        False,
        description="Listed first by /api/projects (portfolio ordering).",
        json_schema_extra=_unchanged_when_absent,
    )
    hidden: bool = Field(
        False, description="Left out of /api/projects and /api/metrics.", json_schema_extra=_unchanged_when_absent
    )
    paused: bool = Field(False, description="Skipped by full refreshes.", json_schema_extra=_unchanged_when_absent)
    public_metrics: bool = Field(
        False,
        description="Show a private repository's metadata and metrics (never its commits, authors, history or "
        "events) to readers without the admin token.",
        json_schema_extra=_unchanged_when_absent,
    )


class _PutFields(_Editable):
    """Every editable field, each required."""

    display_name: DisplayName | None
    description_override: Description | None
    tags: list[Tag] = Field(
        max_length=20,
        description="Up to 20 unique tags (ignoring case and surrounding spaces).",
        json_schema_extra={"uniqueItems": True},
    )
    featured: bool
    hidden: bool
    paused: bool
    public_metrics: bool = Field(False, description="Private metrics shown to anyone; false when absent.")


class RepoOut(BaseModel):
    """A tracked repository: identity, GitHub metadata, metrics and the editable fields."""

    id: int
    owner: str
    owner_name: str = Field(description="Same as owner (an older name for it).")
    repo_name: str
    full_name: str
    source: str = Field(description='"discovered" (the token\'s account) or "added" (POST /api/repos).')
    github_id: int | None
    description: str | None
    html_url: str | None
    homepage: str | None
    default_branch: str | None
    stars: int
    forks: int
    watchers: int
    open_issues: int
    private: bool
    archived: bool
    fork: bool
    topics: list[str]
    languages: dict[str, int] = Field(description="Bytes per language (GitHub).")
    pushed_at: str | None
    github_created_at: str | None
    time_spent: str
    loc: int
    commits: int
    active_days: int
    code_churn: int
    last_finished: str
    primary_language: str
    repository_size_kb: str
    loc_by_language: dict[str, int]
    authored_loc: int
    authored_loc_by_language: dict[str, int]
    first_commit_date: str | None
    last_commit_date: str | None
    display_name: str | None
    description_override: str | None
    tags: list[str]
    featured: bool
    hidden: bool
    paused: bool
    public_metrics: bool = Field(description="A private repository's metadata and metrics are shown to anyone.")
    metadata_checked_at: str | None
    last_refreshed_at: str | None
    last_error: str | None
    last_error_at: str | None
    created_at: str | None
    updated_at: str | None


_READ_ONLY = {name: (SkipJsonSchema[Any], None) for name in RepoOut.model_fields if name not in EDITABLE}
RepoPatch = create_model("RepoPatch", __base__=_PatchFields, **_READ_ONLY)  # type: ignore[call-overload]
RepoPut = create_model("RepoPut", __base__=_PutFields, **_READ_ONLY)  # type: ignore[call-overload]


class RepoCreated(RepoOut):
    """The repository just tracked, and its first refresh."""

    refresh_job_id: str = Field(description="The background refresh of this repository.")
    check_status_url: str


class RepoPage(BaseModel):
    """One page of tracked repositories (`Link` header: next, prev, first, last)."""

    items: list[RepoOut]
    page: int
    per_page: int
    total: int
    pages: int


class ListQuery(BaseModel):
    """Filters, order and page of the repository list."""

    model_config = ConfigDict(extra="forbid")
    owner: Filter | None = Field(None, description="Owner login (any case).")
    language: Filter | None = Field(None, description='Primary language (any case); "Unknown" for none.')
    source: Literal["discovered", "added"] | None = None
    tag: Filter | None = Field(None, description="Has this tag (exact).")
    sort: Literal["name", "stars", "loc", "last_commit", "created"] = "name"
    direction: Literal["asc", "desc"] | None = Field(None, description="Default: asc for name, else desc.")
    page: PageNumber = 1
    per_page: PerPage = 30


class HistoryQuery(BaseModel):
    """Type filter and page of a repository's history."""

    model_config = ConfigDict(extra="forbid")
    type: Annotated[str, Field(max_length=200, pattern=r"^[a-z_]+(,[a-z_]+)*$")] | None = Field(
        None, description="Only these update types, comma-separated (e.g. stars,renamed)."
    )
    page: PageNumber = 1
    per_page: PerPage = 30


class UpdateOut(BaseModel):
    """One change a refresh saw."""

    id: int
    update_type: str = Field(description="stars, forks, watchers, open_issues, default_branch, renamed, …")
    old_value: str | None
    new_value: str | None
    description: str | None
    created_at: str | None


class HistoryPage(BaseModel):
    """One page of a repository's changes, newest first."""

    items: list[UpdateOut]
    page: int
    per_page: int
    total: int
    pages: int


class SeriesPoint(BaseModel):
    """The value from `at` on."""

    at: str | None
    value: int


class SeriesOut(BaseModel):
    """A counter of a repository over time."""

    repository: str
    repository_id: int
    metric: str
    points: list[SeriesPoint] = Field(description="The value when first tracked, then every change.")
