"""The status bar: model, broker connection, alarms, sync backlog and offline state."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from tui.backend import StatusView

SEPARATOR = (" │ ", "$text-muted")


class StatusBar(Static):
    """One line that says plainly what state the assistant and the plant link are in."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("starting ...", id=id, classes=classes)

    def show(
        self, status: StatusView | None, activity: str | None, new_alarms: int, operator: str
    ) -> None:
        """Redraw from the backend's status and what the app itself is doing."""
        if status is None:
            self.update(Content.styled("connecting ...", "$text-muted"))
            return
        parts: list[str | tuple[str, str]] = []
        model = status.model if len(status.model) <= 16 else status.model[:15] + "…"
        if activity:
            parts.append((f"{model}: {activity}", "bold $warning"))
        elif status.model_busy:
            parts.append((f"{model}: busy", "bold $warning"))
        else:
            parts.append((model, ""))
        parts.append(SEPARATOR)
        if not status.reachable:
            parts.append(("SERVER UNREACHABLE", "bold reverse $error"))
        elif status.broker_ok:
            parts.append(("broker ok", "$success"))
        else:
            parts.append((f"broker: {status.broker_error or status.broker}", "bold $error"))
        parts.append(SEPARATOR)
        if status.alarms:
            label = f"alarms {status.alarms}" + (f" ({new_alarms} new)" if new_alarms else "")
            parts.append((label, "bold reverse $error" if new_alarms else "bold $error"))
        else:
            parts.append(("no alarms", "$success"))
        if status.stale_tags:
            parts += [SEPARATOR, (f"stale {status.stale_tags} tags", "bold $warning")]
        if status.documents == 0:
            parts += [SEPARATOR, ("no documents ingested", "bold $error")]
        parts.append(SEPARATOR)
        if status.sync_backlog is None:
            parts.append(("sync -", "$text-muted"))
        else:
            offline = " offline" if status.offline else ""
            failing = status.sync_state is not None
            style = "bold $warning" if failing or (offline and status.sync_backlog) else ""
            parts.append((f"sync {status.sync_backlog}{offline}", style))
        parts += [SEPARATOR, (operator, "$text-muted")]
        self.update(Content.assemble(*parts))
