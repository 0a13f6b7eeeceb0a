"""The conformance kit every signal-type plugin runs against itself.

Usage, in a plugin's own tests (ours and third parties' alike)::

    from hashcore.testing import SignalTypeConformance

    class TestMyHash(SignalTypeConformance):
        signal_type = MyHashSignal
        sample_files = [Path("tests/data/cat.jpg"), Path("tests/data/dog.jpg")]

Each ``test_*`` method below checks one promise of the :class:`hashcore.SignalType` contract.
The sample files must be of a kind the type applies to and must not be identical content.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from hashcore.content import ContentKind
from hashcore.errors import ContentError, InvalidInput
from hashcore.index import SignalIndex
from hashcore.media import Media
from hashcore.plugins import DISABLE_ENV, get_plugin_manager
from hashcore.registry import SignalRegistry
from hashcore.signals import BitSignalType, Metric, Signal, SignalType

GARBAGE = hashlib.sha512(b"not the rest of the file").digest()
"""64 fixed bytes appended to a cut sample, so a failure reproduces."""


class SignalTypeConformance:
    """Mix into a ``Test*`` class; set :attr:`signal_type` and :attr:`sample_files`."""

    signal_type: ClassVar[type[SignalType]]
    sample_files: ClassVar[list[Path]]

    def _instance(self) -> SignalType:
        return self.signal_type()

    def _hash(self, path: Path) -> Signal:
        return self._instance().hash(Media(path))

    def test_declares_its_contract(self) -> None:
        st = self._instance()
        assert st.name.isidentifier() and st.name == st.name.lower(), st.name
        assert st.content_kinds and all(isinstance(k, ContentKind) for k in st.content_kinds)
        assert isinstance(st.metric, Metric)
        assert isinstance(st.default_threshold, int | float)
        assert st.description, "give a one-line description for `hashcore plugins`"
        if isinstance(st, BitSignalType):
            assert st.bits > 0 and st.bits % 8 == 0
        assert isinstance(st.border_variants, bool) and isinstance(st.crop_variants, tuple)

    def test_is_discovered_through_its_entry_point(self) -> None:
        """Loads the entry points with ``HASHCORE_DISABLE_PLUGINS`` ignored, deliberately: this
        checks that the plugin is published and installed, whatever a deployment disables.
        A fresh manager, not the process's: the plugin may have been installed since."""
        with _plugins_not_disabled():
            registry = SignalRegistry.from_plugins(get_plugin_manager())
        assert self.signal_type.name in registry, (
            f"{self.signal_type.name} is not registered: publish it under the 'hashcore' "
            "entry-point group and install the distribution"
        )
        assert type(registry.get(self.signal_type.name)) is self.signal_type

    def test_samples_apply(self) -> None:
        assert len(self.sample_files) >= 2, "give at least two different sample files"
        st = self._instance()
        for path in self.sample_files:
            assert st.applies_to(Media(path).kind), f"{path} is not content {st.name} hashes"

    def test_hash_is_deterministic_and_typed(self) -> None:
        for path in self.sample_files:
            first, second = self._hash(path), self._hash(path)
            assert first.type == self.signal_type.name
            assert isinstance(first.value, bytes) and first.value
            assert first.value == second.value, f"{path}: two hashes of one file differ"

    def test_different_samples_give_different_values(self) -> None:
        values = {self._hash(path).value for path in self.sample_files}
        assert len(values) == len(self.sample_files)

    def test_text_form_round_trips(self) -> None:
        st = self._instance()
        for path in self.sample_files:
            value = self._hash(path).value
            text = st.format(value)
            assert isinstance(text, str) and text == text.strip()
            assert st.parse(text) == value
            assert st.parse(f"  {text}\n") == value, "parse should tolerate surrounding space"
            assert st.validate(value) == value

    def test_malformed_values_are_rejected_clearly(self) -> None:
        st = self._instance()
        value = self._hash(self.sample_files[0]).value
        for bad in (b"", value[:-1], value + b"\x00"):
            _expect_invalid(lambda bad=bad: st.validate(bad), f"validate({len(bad)} bytes)")
        for text in ("", "not a hash!", st.format(value)[:-2], "zz" * 64):
            _expect_invalid(lambda text=text: st.parse(text), f"parse({text[:20]!r})")

    def test_compare_is_symmetric_and_self_matches(self) -> None:
        st = self._instance()
        a, b = (self._hash(path).value for path in self.sample_files[:2])
        assert st.is_match(st.compare(a, a))
        chance = st.accidental_probability(st.compare(a, a))
        assert chance is None or 0.0 <= chance <= 1.0, f"accidental_probability gave {chance}"
        assert st.compare(a, b) == st.compare(b, a)

    def test_declares_its_index(self, tmp_path: Path) -> None:
        """``create_index()`` gives an empty :class:`~hashcore.index.SignalIndex` that finds
        an added value at the default threshold, answers ``range_search`` as ``search``, counts
        its pending changes and reloads its snapshot with the same answers."""
        st = self._instance()
        index = st.create_index()
        assert isinstance(index, SignalIndex), f"create_index() returned {type(index).__name__}"
        assert len(index) == 0
        a, b = (self._hash(path).value for path in self.sample_files[:2])
        index.add([7, 8], [a, b])
        assert len(index) == 2 and index.delta_size >= 0
        assert index.value_size in (None, len(a)), "value_size is the width of every value"
        with contextlib.suppress(NotImplementedError):  # listing ids is optional
            assert index.value_ids().tolist() == [7, 8]
        threshold = float(st.default_threshold)
        found = index.search([a], threshold)
        assert 7 in [hit.value_id for hit in found[0]], "an added value does not find itself"
        arrays = index.range_search([a, b], threshold)
        assert arrays.to_lists() == index.search([a, b], threshold)
        index.remove([8])
        index.save(tmp_path / "index")
        loaded = type(index).load(tmp_path / "index")
        assert len(loaded) == 1
        assert loaded.search([a], threshold) == index.search([a], threshold)

    def test_variants_are_of_this_type_and_include_the_hash(self) -> None:
        st = self._instance()
        media = Media(self.sample_files[0])
        variants = st.hash_variants(media)
        assert variants and all(v.type == st.name for v in variants)
        assert st.hash(media).value in {v.value for v in variants}

    def test_corrupt_content_fails_cleanly(self, tmp_path: Path) -> None:
        """A sample cut to a third plus garbage bytes either hashes to a well-formed value of
        this type (MD5 hashes anything) or raises :class:`hashcore.ContentError` with a message;
        nothing else. An image that hashcore itself cannot decode must raise ContentError: no
        hash can be made of pixels that were never read."""
        st = self._instance()
        source = self.sample_files[0].read_bytes()
        garbage = tmp_path / f"corrupt{self.sample_files[0].suffix}"
        garbage.write_bytes(source[: max(len(source) // 3, 1)] + GARBAGE)
        for kind in sorted(st.content_kinds):
            what = f"{st.name}.hash() of corrupt {kind.value} content"
            try:
                signal = st.hash(Media(garbage, ContentKind(kind)))
            except ContentError as error:
                assert str(error.message).strip(), f"{what}: ContentError without a message"
                continue
            except Exception as error:
                raise AssertionError(
                    f"{what} raised {type(error).__name__}: {error}; raise hashcore.ContentError"
                ) from error
            if kind is ContentKind.IMAGE:
                assert _decodes(garbage), f"{what} returned a value for an undecodable image"
            assert isinstance(signal, Signal) and signal.type == st.name, f"{what}: {signal!r}"
            assert st.validate(signal.value) == signal.value, f"{what}: malformed value"


@contextlib.contextmanager
def _plugins_not_disabled() -> Iterator[None]:
    """``HASHCORE_DISABLE_PLUGINS`` unset for the duration, then put back as it was."""
    saved = os.environ.pop(DISABLE_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[DISABLE_ENV] = saved


def _decodes(path: Path) -> bool:
    """Whether hashcore's own image decoding reads ``path``."""
    try:
        Media(path, ContentKind.IMAGE).rgb_image  # noqa: B018 - decoding is the point
    except ContentError:
        return False
    return True


def _expect_invalid(call: object, what: str) -> None:
    try:
        call()  # type: ignore[operator]
    except InvalidInput:
        return
    raise AssertionError(f"{what} should raise hashcore.InvalidInput")
