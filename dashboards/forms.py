"""Forms of the management pages; locations are checked against the emission-factor
dataset so a typo is refused here rather than billed at the world average later; a PUE
within ``carbon.MIN_PUE``/``MAX_PUE``, the hub's one set of bounds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

import carbon
from api.models import ApiKeyScope, Organisation, Project, Role


class ProjectForm(forms.ModelForm[Project]):
    class Meta:
        model = Project
        fields = [
            "name",
            "description",
            "hosting",
            "country",
            "region",
            "cloud_provider",
            "cloud_region",
            "pue",
        ]
        labels = {
            "country": "Country (ISO code, e.g. FR or FRA)",
            "region": "Region inside the country (US state or eGRID subregion, Canadian province)",
            "cloud_provider": "Cloud provider (aws, gcp or azure)",
            "cloud_region": "Cloud region (e.g. eu-west-3)",
            "pue": f"PUE of the site ({carbon.MIN_PUE:.1f} to {carbon.MAX_PUE:.1f}; "
            "empty for the provider's or default)",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organisation = organisation

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = Project.objects.filter(organisation=self.organisation, name=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("This organisation already has a project of that name.")
        return name

    def clean_pue(self) -> float | None:
        pue = self.cleaned_data.get("pue")
        if pue is not None and not carbon.MIN_PUE <= pue <= carbon.MAX_PUE:
            raise forms.ValidationError(
                f"A PUE is between {carbon.MIN_PUE:g} and {carbon.MAX_PUE:g}."
            )
        return pue

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        location = {
            k: (data.get(k) or "").strip()
            for k in ("country", "region", "cloud_provider", "cloud_region")
        }
        if not any(location.values()):
            return data
        try:
            resolved = carbon.resolve_zone(
                country=location["country"] or None,
                region=location["region"] or None,
                cloud_provider=location["cloud_provider"] or None,
                cloud_region=location["cloud_region"] or None,
            )
        except carbon.UnknownLocation as exc:
            raise forms.ValidationError(str(exc)) from exc
        # Store the canonical spellings the accounting will use.
        if location["country"]:
            data["country"] = carbon.validate_country(location["country"])
        if resolved.cloud_provider:
            data["cloud_provider"] = resolved.cloud_provider
        if resolved.cloud_region:
            data["cloud_region"] = resolved.cloud_region
        return data


class KeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="What uses this key, e.g. 'training cluster'."
    )
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.INGEST)


class MemberForm(forms.Form):
    user = forms.CharField(max_length=254, label="Username or e-mail of an existing user")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def clean_user(self) -> Any:
        text = self.cleaned_data["user"].strip()
        users = get_user_model().objects
        user = (
            users.filter(username__iexact=text).first() or users.filter(email__iexact=text).first()
        )
        if user is None:
            raise forms.ValidationError(
                f"No user {text!r}: they must have an account first (an administrator creates it)."
            )
        return user
