"""ToolCallScreen: call one MCP tool yourself, as the current user under the current pattern,
no model in the loop (the MCP Inspector's Tools tab, for agent auth).

The form is built from the tool's JSON Schema (a choice list for an enum, a text field
otherwise) and writes the arguments below it as JSON; edit that JSON last to send what no
form would (a number where a string belongs, a list, a huge value). The pattern still adds
its credentials and the arguments it binds; where the pattern has the model pass the user's
key as `api_key`, the field starts with the user's own key: put another user's there.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from runtime import InputError, ToolSchema, TurnResult, brief, json_object, printable
from tui.masking import Masker

CallFn = Callable[[str, dict[str, Any]], Awaitable[TurnResult]]


def field_type(schema: dict[str, Any]) -> str:
    """The JSON type a property takes ("string", "integer", ...), `anyOf` with null
    unwrapped."""
    if "type" in schema and isinstance(schema["type"], str):
        return schema["type"]
    for option in schema.get("anyOf", []):
        if isinstance(option, dict) and option.get("type") not in (None, "null"):
            return str(option["type"])
    return "string"


def enum_of(schema: dict[str, Any]) -> list[Any] | None:
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    for option in schema.get("anyOf", []):
        if isinstance(option, dict) and isinstance(option.get("enum"), list):
            return list(option["enum"])
    return None


def typed(text: str, kind: str) -> Any:
    """A form field's text as the schema's type when it reads as one, else the text
    itself (so the server, not the form, judges a wrong type)."""
    if kind in ("integer", "number", "boolean", "array", "object"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text


def first_sentence(text: str) -> str:
    words = " ".join(text.split())
    return brief(words.split(". ")[0].rstrip(".") + ".", 90)


def describe_answer(result: TurnResult, masker: Masker) -> Group:
    answer = masker.text(result.answer)
    try:
        pretty = json.dumps(json.loads(answer), indent=1)
        body: Any = Syntax(pretty[:20_000], "json", word_wrap=True, background_color="default")
    except (ValueError, RecursionError):
        body = Text(printable(answer[:20_000], lines=True))
    head = Text("the call failed" if result.error else "the tool answered", style="bold")
    decided = _decided(result.answer)
    if decided:
        head.append(f"  (refused, decided by {decided})", style="bold reverse")
    return Group(head, body)


def _decided(answer: str) -> str:
    try:
        value = json.loads(answer)
    except (ValueError, RecursionError):
        return ""
    error = value.get("error") if isinstance(value, dict) else None
    return str(error.get("decided_by", "")) if isinstance(error, dict) else ""


class ToolCallScreen(Screen[None]):
    DEFAULT_CSS = """
    ToolCallScreen { layout: vertical; }
    ToolCallScreen #call-title { height: 1; padding: 0 1; background: $panel; }
    ToolCallScreen #call-panes { height: 1fr; }
    ToolCallScreen #call-tools { width: 34; height: 1fr; }
    ToolCallScreen #call-right { width: 1fr; padding: 0 1; }
    ToolCallScreen #call-form { height: 2fr; }
    ToolCallScreen #call-form Label { color: $text-muted; }
    ToolCallScreen #call-args { height: 1fr; min-height: 3; }
    ToolCallScreen #call-result { height: auto; min-height: 3; max-height: 45%;
                                  border-top: solid $accent;
                                  padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="call.back"),
        Binding("ctrl+s", "send", "Call the tool", id="call.send"),
    ]

    def __init__(self, schemas: list[ToolSchema], user: str, pattern: str, api_key: str,
                 passes_key: bool, call: CallFn, masker: Masker) -> None:
        super().__init__()
        self.schemas = {s.name: s for s in schemas}
        self.user, self.pattern, self.api_key = user, pattern, api_key
        self.passes_key, self._call, self.masker = passes_key, call, masker
        self.tool = schemas[0].name if schemas else ""
        self.results: list[TurnResult] = []

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("Call a tool ", "bold"), f"as {self.user} under ",
                                   f"{self.pattern}, no model in the loop",
                                   ("   ctrl+s calls · edit the JSON for odd types", "dim")),
                     id="call-title")
        with Horizontal(id="call-panes"):
            yield OptionList(*[Option(Text.assemble((s.name, "bold"), "\n",
                                                    (first_sentence(s.description), "dim")),
                                      id=s.name) for s in self.schemas.values()],
                             id="call-tools")
            with Vertical(id="call-right"):
                yield VerticalScroll(id="call-form")
                yield Label("arguments as sent (JSON object)")
                yield TextArea("{}", id="call-args", soft_wrap=True)
        yield Static(Text("Pick a tool, fill its arguments, ctrl+s.", style="dim"),
                     id="call-result")
        yield Footer()

    async def on_mount(self) -> None:
        tools = self.query_one("#call-tools", OptionList)
        tools.focus()
        if self.schemas:
            tools.highlighted = 0
            await self._build_form(self.tool)

    async def on_option_list_option_highlighted(self,
                                                event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and event.option.id != self.tool:
            await self._build_form(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        first = self.query("#call-form Input, #call-form Select")
        if first:
            first.first().focus()

    async def _build_form(self, tool: str) -> None:
        self.tool = tool
        form = self.query_one("#call-form", VerticalScroll)
        await form.remove_children()
        schema = self.schemas[tool].input_schema
        required = set(schema.get("required", []))
        widgets: list[Any] = []
        for name, prop in schema.get("properties", {}).items():
            if not isinstance(prop, dict):
                continue
            kind = field_type(prop)
            hint = f"{name} ({kind}{', required' if name in required else ''})"
            widgets.append(Label(hint + (f": {brief(prop['description'], 80)}"
                                         if prop.get("description") else "")))
            choices = enum_of(prop)
            if choices is not None:
                widgets.append(Select([(str(c), c) for c in choices], id=f"arg-{name}",
                                      allow_blank=name not in required,
                                      value=choices[0] if name in required else Select.NULL))
            else:
                start = self.api_key if name == "api_key" and self.passes_key else ""
                secret = name == "api_key" and not self.masker.reveal   # r reveals
                widgets.append(Input(start, placeholder=kind, id=f"arg-{name}",
                                     password=secret))
        await form.mount_all(widgets)
        self._write_arguments()

    def arguments_from_form(self) -> dict[str, Any]:
        schema = self.schemas[self.tool].input_schema
        arguments: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            found = self.query(f"#arg-{name}")
            if not found:
                continue
            widget = found.first()
            if isinstance(widget, Select):
                if widget.value is not Select.NULL:
                    arguments[name] = widget.value
            elif isinstance(widget, Input) and widget.value != "":
                arguments[name] = typed(widget.value, field_type(prop))
        return arguments

    def _write_arguments(self) -> None:
        """The form as JSON, secrets masked as everywhere (sent as typed unless edited)."""
        text = json.dumps(self.arguments_from_form(), indent=1)
        self.query_one("#call-args", TextArea).text = self.masker.text(text)

    def _unmasked(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Arguments with each value still shown masked replaced by the form's real one."""
        form = self.arguments_from_form()
        try:
            shown = json.loads(self.masker.text(json.dumps(form)))
        except ValueError:
            return arguments
        return {k: form[k] if k in form and v == shown.get(k) else v
                for k, v in arguments.items()}

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._write_arguments()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._write_arguments()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_send()

    def action_send(self) -> None:
        text = self.query_one("#call-args", TextArea).text
        try:
            arguments = json_object(text, "arguments")
        except InputError as exc:
            self.notify(str(exc), title="Not called", severity="error")
            return
        self.query_one("#call-result", Static).update(Text(f"calling {self.tool}…",
                                                           style="dim"))
        self.run_worker(self._send(self.tool, self._unmasked(arguments)), group="call",
                        exclusive=True, exit_on_error=False)

    async def _send(self, tool: str, arguments: dict[str, Any]) -> None:
        from tui.screens.runs import ui_errors

        try:
            result = await self._call(tool, arguments)
        except ui_errors() as exc:
            self.query_one("#call-result", Static).update(Text(f"not called: {exc}"))
            self.notify(str(exc), title="Call", severity="error")
            return
        self.results.append(result)
        self.query_one("#call-result", Static).update(describe_answer(result, self.masker))
