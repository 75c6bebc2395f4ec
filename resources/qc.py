"""How the title's QC findings become a verdict: the QC profile and the burned-in subtitle rule."""

from __future__ import annotations

from dagster import ConfigurableResource

from prism.qc.profile import QcProfile, get_profile


class QcPolicy(ConfigurableResource):
    """The QC profile the ``qc`` asset grades with (``PRISM_QC_PROFILE``) and the share of the speech
    time subtitle-like on-screen text may cover before it is a burned-in subtitle finding
    (``PRISM_QC_BURNED_IN_SHARE``)."""

    profile: str = "streaming"
    burned_in_share: float = 0.3

    def qc_profile(self) -> QcProfile:
        return get_profile(self.profile)
