"""Forms of the report pages: a new report, a contractual instrument."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.utils import timezone

from api.models import Organisation, Project
from api.periods import Period, custom, parse_quarter, quarter_of
from reports.models import ContractualInstrument


def quarter_choices(now: datetime | None = None, count: int = 8) -> list[tuple[str, str]]:
    """The last closed quarters, newest first, then the current one (partial)."""
    current = quarter_of(now or timezone.now())
    out = []
    q = current.previous()
    for _ in range(count):
        out.append((q.label, q.label))
        q = q.previous()
    out.insert(0, (current.label, f"{current.label} (in progress)"))
    return out


class ReportForm(forms.Form):
    PERIOD_CHOICES = [("quarter", "A quarter"), ("custom", "Custom period")]
    SCOPE_CHOICES = [("all", "The whole organisation"), ("projects", "Chosen projects")]

    period_kind = forms.ChoiceField(
        choices=PERIOD_CHOICES, initial="quarter", widget=forms.RadioSelect
    )
    quarter = forms.ChoiceField(choices=[], required=False)
    start = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="First day (included)",
    )
    end = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last day (included)",
    )
    scope = forms.ChoiceField(choices=SCOPE_CHOICES, initial="all", widget=forms.RadioSelect)
    projects = forms.ModelMultipleChoiceField(
        queryset=Project.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        choices = quarter_choices()
        quarter_field = self.fields["quarter"]
        assert isinstance(quarter_field, forms.ChoiceField)
        quarter_field.choices = choices
        quarter_field.initial = choices[1][0]
        projects_field = self.fields["projects"]
        assert isinstance(projects_field, forms.ModelMultipleChoiceField)
        projects_field.queryset = Project.objects.filter(organisation=organisation).order_by("name")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period_kind") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom period needs a first and a last day.")
            if end < start:
                raise forms.ValidationError("The last day is before the first day.")
            begin = datetime.combine(start, time.min, tzinfo=UTC)
            stop = datetime.combine(end, time.min, tzinfo=UTC) + (
                datetime(2000, 1, 2) - datetime(2000, 1, 1)
            )
            try:
                data["period"] = custom(begin, stop)
            except ValueError as exc:
                raise forms.ValidationError(f"That period cannot be reported: {exc}.") from exc
        else:
            try:
                data["period"] = parse_quarter(data.get("quarter") or "")
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        if data.get("scope") == "projects" and not data.get("projects"):
            raise forms.ValidationError(
                "Choose at least one project, or report on the whole organisation."
            )
        return data

    @property
    def period(self) -> Period:
        return self.cleaned_data["period"]


class InstrumentForm(forms.ModelForm[ContractualInstrument]):
    class Meta:
        model = ContractualInstrument
        fields = [
            "kind",
            "zone",
            "period_start",
            "period_end",
            "mwh",
            "share_pct",
            "g_per_kwh",
            "notes",
        ]
        widgets = {
            "period_start": forms.DateInput(attrs={"type": "date"}),
            "period_end": forms.DateInput(attrs={"type": "date"}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def clean_zone(self) -> str:
        import carbon

        zone = (self.cleaned_data.get("zone") or "").strip().upper()
        if not carbon.get_dataset().has_zone(zone):
            raise forms.ValidationError(
                f"{zone!r} is not a zone of the current factor dataset (e.g. FRA, USA-CAMX)."
            )
        return zone

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("mwh") is None) == (data.get("share_pct") is None):
            raise forms.ValidationError(
                "Give either the MWh covered or the share of consumption covered, not both."
            )
        if (
            data.get("period_start")
            and data.get("period_end")
            and data["period_end"] < data["period_start"]
        ):
            raise forms.ValidationError("The period ends before it starts.")
        return data
