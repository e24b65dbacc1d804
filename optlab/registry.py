"""Plugin discovery: built-ins, installed packages (entry-point group "optlab") and local files, one way in."""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, NamedTuple

# pluggy, the hook specifications, importlib.metadata and difflib are imported where they are used, so that
# `optlab --help` (which reads KINDS) imports none of them

KINDS = {"optimizers": "optimizer", "problems": "problem", "transforms": "transform",
         "executors": "executor", "evaluations": "evaluation", "reports": "report"}


class PluginError(ValueError):
    """A plugin could not be loaded, or two plugins claim the same name."""


class Entry(NamedTuple):
    """One thing a plugin provides: its kind, name, the object, and where it came from."""

    kind: str
    name: str
    obj: Any
    source: str


class Registry:
    """Everything the loaded plugins provide, by kind and name.

    A built-in plugin the catalogue (optlab_plugins.catalogue) knows is imported when a name it provides is
    first looked up (`get`, `find`) or when everything is asked for (`entries`), not before: a worker that runs
    gd on rosenbrock imports those two plugin modules, not all seventeen. Third-party packages and local files
    are imported when registered, as before, and a name one of them shares with a built-in is refused then.
    """

    def __init__(self, files: Iterable[str | os.PathLike] = ()) -> None:
        import pluggy

        from . import hookspecs

        self.pm = pluggy.PluginManager("optlab")
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, str] = {}
        self.pending: dict[str, Any] = {}  # entry-point name -> EntryPoint of a catalogued built-in not yet imported
        self._rank: dict[str, int] = {}  # plugin name -> its place in listings: entry-point order, then files
        self._lock = threading.RLock()  # a lookup imports: a Dask worker's threads must not see a half-loaded one
        self._load_entry_points()
        for path in files:
            self.load_file(path)

    def _load_entry_points(self) -> None:
        """Entry points of group "optlab"; with OPTLAB_DISABLE_PLUGIN_AUTOLOAD set, only optlab's own."""
        import importlib.metadata

        only_builtins = bool(os.environ.get("OPTLAB_DISABLE_PLUGIN_AUTOLOAD"))
        known = _catalogue_known()
        for ep in importlib.metadata.entry_points(group="optlab"):
            dist = ep.dist.name if ep.dist is not None else "?"
            if only_builtins and dist != "optlab":
                continue
            if ep.name in self._rank:
                continue  # the same distribution seen twice on sys.path
            self._rank[ep.name] = len(self._rank)
            if dist == "optlab" and known(ep.value):
                self.pending[ep.name] = ep
                continue
            source = "built-in" if dist == "optlab" else f"package {dist} {ep.dist.version if ep.dist else ''}".strip()
            self._register(self._import(ep, dist), ep.name, source)

    @staticmethod
    def _import(ep: Any, dist: str) -> Any:
        try:
            return ep.load()
        except Exception as e:
            raise PluginError(f"plugin {ep.name!r} from package {dist}: cannot be loaded: {e}") from None

    def _load_pending(self, names: Iterable[str]) -> None:
        """Import and register the catalogued built-ins `names` (entry-point names) not imported yet."""
        with self._lock:
            for name in names:
                ep = self.pending.pop(name, None)
                if ep is not None:
                    self._register(self._import(ep, "optlab"), name, "built-in")

    def load_file(self, path: str | os.PathLike) -> None:
        """Register a local plugin file (`--plugin path.py`, or `plugins:` in a config)."""
        path = Path(path).resolve()
        if not path.is_file():
            raise PluginError(f"plugin file {str(path)!r} does not exist")
        name = f"file:{path}"
        if self.pm.get_plugin(name) is not None:
            return
        spec = importlib.util.spec_from_file_location(f"optlab_local_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise PluginError(f"plugin file {str(path)!r}: not a Python file that can be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # pydantic resolves `from __future__` annotations through it
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[spec.name]
            raise PluginError(f"plugin file {str(path)!r}: cannot be loaded: {type(e).__name__}: {e}") from None
        self._rank[name] = len(self._rank)
        self._register(module, name, f"file {path}")

    def _register(self, plugin: Any, name: str, source: str) -> None:
        self.pm.register(plugin, name=name)
        self.sources[name] = source
        if source == "built-in":  # the catalogue's names are unique (tested), and a third party's are checked
            return  # when it registers: no hook called now (a study's hooks import its code when called)
        found = self._loaded()  # fail now, naming both sources, if a name is taken twice
        claimed = {_provider(k, n) for k in found for n in found[k]}
        sharing = [ep for ep, value in list(self.pending.items()) if value.value in claimed]
        if sharing:  # a built-in that provides one of its names too: imported and compared
            self._load_pending(sharing)
            self._loaded()

    def _loaded(self, kind: str | None = None) -> dict[str, dict[str, Entry]]:
        """{kind: {name: Entry}} over the plugins imported so far, checking names are unique."""
        out: dict[str, dict[str, Entry]] = {}
        order = len(self._rank)
        for k in ([kind] if kind else KINDS):
            impls = getattr(self.pm.hook, f"optlab_{k}").get_hookimpls()
            found: dict[str, Entry] = {}
            for impl in sorted(impls, key=lambda impl: self._rank.get(impl.plugin_name, order)):  # stable
                source = self.sources.get(impl.plugin_name, impl.plugin_name)
                for name, obj in provided(k, impl.function, source):
                    entry = Entry(KINDS[k], name, obj, source)
                    if name in found and found[name].obj is not obj:
                        raise PluginError(f"{KINDS[k]} {name!r} is defined twice: by {found[name].source} "
                                          f"and by {entry.source}")
                    found[name] = entry
            out[k] = found
        return out

    def entries(self, kind: str | None = None) -> dict[str, dict[str, Entry]]:
        """{kind: {name: Entry}} over every plugin, checking names are unique. With a kind, the built-ins the
        catalogue says provide none of that kind stay unimported (`optlab report` asks for report sections:
        two modules, not seventeen); without, every plugin is imported now."""
        with self._lock:
            self._load_pending([ep for ep, value in list(self.pending.items())
                                if kind is None or _provides(value.value, kind)])
            return self._loaded(kind)

    def find(self, kind: str, name: str) -> Entry | None:
        """The Entry registered as `name` of `kind`, or None; imports only the built-in the catalogue names.

        The pending built-ins are those the catalogue describes whole (a test compares it with the full
        registry), so a name it gives to none of them is in none of them: nothing more is imported.
        """
        module = _provider(kind, name)
        with self._lock:
            self._load_pending([ep for ep, value in list(self.pending.items()) if value.value == module])
            return self._loaded(kind)[kind].get(name)

    def get(self, kind: str, name: str) -> Any:
        """The object registered as `name` of `kind`, or an error suggesting the closest name."""
        entry = self.find(kind, name)
        if entry is None:
            import difflib

            found = self.entries()[kind]  # every plugin imported: the hint covers them all
            close = difflib.get_close_matches(name, found, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(found))}"
            raise PluginError(f"unknown {KINDS[kind]} {name!r}{hint}")
        return entry.obj

    def attribute(self, kind: str, name: str, attribute: str) -> Any:
        """A class attribute (one the catalogue records, such as `deterministic`) of `name` of `kind`: from the
        catalogue while its built-in is not imported, else from the object (default where it has none)."""
        from optlab_plugins.catalogue import ATTRIBUTES
        from optlab_plugins.catalogue import attribute as catalogued

        module = _provider(kind, name)
        with self._lock:
            if any(value.value == module for value in self.pending.values()):
                return catalogued(module, kind, name, attribute)
        return getattr(self.get(kind, name), attribute, ATTRIBUTES[attribute])


def _catalogue_known() -> Any:
    """The catalogue's `known(module)`, or one that knows nothing when the built-ins are not installed."""
    try:
        from optlab_plugins.catalogue import known
    except ImportError:
        return lambda module: False
    return known


def _provides(module: str, kind: str) -> bool:
    """Whether the catalogued built-in `module` provides any `kind`."""
    from optlab_plugins.catalogue import provides

    return provides(module, kind)


def _provider(kind: str, name: str) -> str | None:
    """The built-in module the catalogue says provides `name` of `kind`."""
    from optlab_plugins.catalogue import provider

    return provider(kind, name)


def provided(kind: str, hook: Any, source: str) -> list[tuple[str, Any]]:
    """(name, object) pairs a hook returns: a dict by name, or a list of objects with a `name`."""
    what = f"{source}: hook optlab_{kind}"
    try:
        provided = hook()
    except Exception as e:
        raise PluginError(f"{what} failed: {type(e).__name__}: {e}") from None
    if isinstance(provided, dict):
        pairs = list(provided.items())
    elif isinstance(provided, (list, tuple)):
        pairs = [(getattr(o, "name", None), o) for o in provided]
    else:
        raise PluginError(f"{what} returned {type(provided).__name__} {provided!r:.40}; it must return a list "
                          f"of {kind} (each with a `name`) or a dict of name -> {KINDS[kind]}")
    for name, obj in pairs:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{what}: {obj!r:.60} has no name; give it a `name` string "
                              f"(or return a dict of name -> {KINDS[kind]})")
    return pairs


_default: Registry | None = None


def registry() -> Registry:
    """The process-wide registry of installed plugins, loaded once."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
