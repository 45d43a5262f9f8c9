"""`SqlFollowerStore`: the follower store API both SQL backends share.

Reads compile segments with `segment.to_sql` over the very tables the store writes, so the
database answers ``select``, ``count`` and ``explain``; writes go through `SqlCore`'s bulk path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from wxsegment._clock import ensure_aware
from wxsegment._model import AttributeValue, Follower
from wxsegment.followers._bulk import bulk_rows
from wxsegment.followers._codec import (
    decode_column,
    from_micros,
    micros,
    set_columns,
)
from wxsegment.followers._core import (
    NEXT_OPENID_KEY,
    TRIMMED_KEY,
    SqlCore,
    chunks,
    decode_attribute,
    openid_list,
)
from wxsegment.followers._errors import StaleVersionError
from wxsegment.followers._report import ImportReport
from wxsegment.followers._rows import (
    Write,
    check_openid,
    check_text,
    csv_rows,
    follower_write,
    mapping_write,
    prepare,
)
from wxsegment.segment import (
    And,
    Explanation,
    Not,
    Or,
    Segment,
    render,
    to_sql,
)

__all__ = ["SqlFollowerStore"]


class SqlFollowerStore(SqlCore):
    """What SQLite and PostgreSQL stores share; a backend supplies connections and loading."""

    def __enter__(self) -> SqlFollowerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------------

    def upsert(
        self, followers: Iterable[Follower], *, unless_changed_since: int | None = None
    ) -> ImportReport:
        """Store each follower whole (tags and attributes replaced); all or nothing.

        ``unless_changed_since`` is a `version` the caller read before it fetched what it
        writes (a sync reads it before asking WeChat). Followers written after that position
        (an event handler's unsubscribe, a new tag, a later interaction) are left as they are
        and listed in the report's ``skipped``: what the store holds for them is newer than
        what the caller brings. Every row is still checked, so a bad one rejects the call.
        """
        since = _position(unless_changed_since)
        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            writes = prepare(followers, lambda row, f: follower_write(row, f, schema))
            if since is None:
                return self._apply(cursor, writes, replace=True)
            changed = self._changed_after(cursor, [w.openid for w in writes], since)
            report = self._apply(
                cursor, [w for w in writes if w.openid not in changed], replace=True
            )
            return attrs.evolve(report, skipped=tuple(sorted(changed)))

    def import_rows(self, rows: Iterable[Mapping[str, Any]]) -> ImportReport:
        """Merge CRM rows: ``openid`` plus fields, tags and attributes to set; all or nothing.

        A missing or ``None`` value leaves the stored one alone; ``tags`` (when given) replaces
        the follower's tags. A new follower needs a ``subscribe_time``.
        """
        listed = list(rows)
        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            bulk = bulk_rows(
                listed,
                schema,
                self._layout(schema).columns,
                exact=self._exact_numbers,
                json_tags=self._tags_as_json,
            )
            if bulk is not None:
                return self._merge_bulk(cursor, bulk)
            writes = prepare(listed, lambda row, m: mapping_write(row, m, schema))
            return self._apply(cursor, writes, replace=False)

    def import_csv(
        self,
        path: str | os.PathLike[str],
        *,
        columns: Mapping[str, str] | None = None,
        delimiter: str = ",",
        tag_separator: str = "|",
        encoding: str = "utf-8",
    ) -> ImportReport:
        """Merge the rows of a CSV file as `import_rows` does; cells parse by declared kind.

        ``columns`` renames header names to fields or attributes; an empty cell is no value;
        ``tags`` cells list names split by ``tag_separator``; rows count from 2 (the header is 1).
        """
        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            parsed = csv_rows(
                path,
                schema,
                columns=columns,
                delimiter=delimiter,
                tag_separator=tag_separator,
                encoding=encoding,
            )

            def make(row: int, item: Mapping[str, Any] | Exception) -> Write:
                if isinstance(item, Exception):
                    raise ValueError(str(item))
                return mapping_write(row, item, schema)

            writes = prepare(parsed, make, first_row=2)
            return self._apply(cursor, writes, replace=False)

    def import_frame(self, frame: Any) -> ImportReport:
        """Merge a polars or pandas DataFrame or a pyarrow Table as `import_rows` does.

        Columns: ``openid``, optional fields (timestamps with a time zone), ``tags`` (lists of
        names) and declared attributes; nulls leave stored values alone. Checked column by
        column with Arrow kernels (the ``frames`` extra); one bad cell rejects the call.
        """
        from wxsegment.followers._frames import checked_kinds, frame_columns

        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            columns = frame_columns(frame, schema, exact=self._exact_numbers)
            checked_kinds(schema, columns.typed)
            every = self._layout(schema).columns
            fields = columns.fields
            # As for import_rows: only columns some row sets are bound (unbound ones read as
            # NULL, "leave the stored value"), booleans as ints, tags as JSON arrays when the
            # store takes them and the frame's tag lists could be written as such.
            named: list[tuple[str, Sequence[Any]]] = [
                ("row_no", range(1, columns.count + 1)),
                *((name, fields[name]) for name in fields),
            ]
            tags: Any = iter(())
            if self._tags_as_json and columns.tag_json is not None:
                named.append(("tags", columns.tag_json))
            else:
                named.append(("has_tags", [1 if given else None for given in columns.has_tags]))
                tags = zip(*columns.tags, strict=True) if columns.tags else iter(())
            typed = []
            for name, values in columns.typed.items():
                column = every[name]
                if column.kind == "bool":
                    values = [v if v is None else int(v) for v in values]
                if any(v is not None for v in values):
                    typed.append(column)
                    named.append((column.column, values))
            loaded, rows = set_columns(named)
            return self._load_and_merge(
                cursor, typed, rows, tags, [], [], replace=False, known_only=False, loaded=loaded
            )

    def mark_unsubscribed(
        self, openids: Iterable[str], *, at: datetime, unless_changed_since: int | None = None
    ) -> int:
        """Record that known followers unsubscribed at ``at``; unknown openids are skipped.

        With ``unless_changed_since`` (as for `upsert`), followers written after that position
        are skipped too: a subscribe recorded since then is newer than the caller's news.
        """
        return self._set_known(
            openids,
            {"subscribed": False, "unsubscribed_at": at},
            since=_position(unless_changed_since),
        )

    def mark_subscribed(self, openids: Iterable[str], *, at: datetime) -> int:
        """Record that known followers (re)subscribed at ``at``: a new subscribe time."""
        ensure_aware(at, "at")
        listed = openid_list(openids)
        schema = self._schema
        writes = [
            Write(
                i, o, False, at, None, None, None, {"subscribed": schema.value("subscribed", True)}
            )
            for i, o in enumerate(listed, 1)
        ]
        with self._write() as cursor:
            return self._apply(cursor, writes, replace=False, known_only=True).updated

    def _set_known(
        self,
        openids: Iterable[str],
        values: Mapping[str, AttributeValue],
        *,
        since: int | None = None,
    ) -> int:
        for value in values.values():
            if isinstance(value, datetime):
                ensure_aware(value, "at")
        listed = openid_list(openids)
        with self._write() as cursor:
            if since is not None:
                changed = self._changed_after(cursor, listed, since)
                listed = [o for o in listed if o not in changed]
            writes = [
                Write(i, o, False, None, None, None, None, values) for i, o in enumerate(listed, 1)
            ]
            return self._apply(cursor, writes, replace=False, known_only=True).updated

    def _changed_after(self, cursor: Any, openids: Sequence[str], since: int) -> set[str]:
        """Which of ``openids`` were written after feed position ``since`` (in this write)."""
        upto = self._trimmed(cursor)
        trimmed = upto is not None and since < upto
        changed: set[str] = set()
        for chunk in chunks(openids):
            marks = ", ".join("?" for _ in chunk)
            if trimmed:
                # The entries after ``since`` are gone, so any stored follower may have changed:
                # leaving one stale until the next pull is better than overwriting newer news.
                query = f"SELECT openid FROM {self._followers} WHERE openid IN ({marks})"
                cursor.execute(self._sql(query), list(chunk))
            else:
                query = (
                    f"SELECT DISTINCT openid FROM {self._t('wxs_changes')} "
                    f"WHERE seq > ? AND openid IN ({marks})"
                )
                cursor.execute(self._sql(query), [since, *chunk])
            changed.update(openid for (openid,) in cursor.fetchall())
        return changed

    def touch(self, openids: Iterable[str], *, at: datetime) -> int:
        """Move ``last_interaction_at`` of known followers forward to ``at`` (never back)."""
        moment = micros(ensure_aware(at, "at"))
        listed = openid_list(openids)
        f = self._followers
        changed = 0
        with self._write() as cursor:
            for chunk in chunks(listed):
                marks = ", ".join("?" for _ in chunk)
                cursor.execute(
                    self._sql(
                        f"UPDATE {f} SET last_interaction_at = ? WHERE openid IN ({marks}) "
                        "AND (last_interaction_at IS NULL OR last_interaction_at < ?)"
                    ),
                    [moment, *chunk, moment],
                )
                changed += cursor.rowcount
                self._log_changes(
                    cursor, f"SELECT openid FROM {f} WHERE openid IN ({marks})", list(chunk)
                )
        return changed

    def add_tags(self, openids: Iterable[str], names: Iterable[str]) -> None:
        """Give each of ``openids`` the tags ``names``.

        Tags may be recorded for openids not stored yet (a pull sees a tag's members before
        their user info); they count once the follower is stored, unless an `upsert` of the
        whole follower replaces them.
        """
        self._change_tags(openids, names, add=True)

    def remove_tags(self, openids: Iterable[str], names: Iterable[str]) -> None:
        """Take the tags ``names`` from each of ``openids``."""
        self._change_tags(openids, names, add=False)

    def _change_tags(self, openids: Iterable[str], names: Iterable[str], *, add: bool) -> None:
        listed = openid_list(openids)
        if isinstance(names, str):
            raise TypeError("names must be an iterable of tag names, not a single string")
        tags = sorted({check_text(n, "tag name") for n in names})
        if any(not n for n in tags):
            raise ValueError("tag names must be non-empty")
        t = self._tags
        pairs = [(o, n) for o in listed for n in tags]
        with self._write() as cursor:
            if add:
                cursor.executemany(
                    self._sql(
                        f"INSERT INTO {t} (openid, tag) SELECT ?, ? WHERE NOT EXISTS "
                        f"(SELECT 1 FROM {t} AS e WHERE e.openid = ? AND e.tag = ?)"
                    ),
                    [(o, n, o, n) for o, n in pairs],
                )
            else:
                cursor.executemany(
                    self._sql(f"DELETE FROM {t} WHERE openid = ? AND tag = ?"), pairs
                )
            self._logopenid_list(cursor, listed)

    def delete(self, openids: Iterable[str]) -> None:
        """Forget followers entirely: their row, tags and attributes."""
        listed = openid_list(openids)
        with self._write() as cursor:
            for table in (self._tags, self._attributes, self._followers):
                cursor.executemany(
                    self._sql(f"DELETE FROM {table} WHERE openid = ?"), [(o,) for o in listed]
                )
            self._logopenid_list(cursor, listed)

    # -- tag ids and checkpoints -------------------------------------------------------------------

    def set_tag_id(self, name: str, tag_id: int) -> None:
        """Map a tag name to its WeChat tag id (a rename moves the name; the id is the key)."""
        check_text(name, "tag name")
        if isinstance(tag_id, bool) or not isinstance(tag_id, int) or tag_id < 0:
            raise ValueError(f"tag_id must be a non-negative int, got {tag_id!r}")
        with self._write() as cursor:
            self._set_tag_id(cursor, name, tag_id)

    def _set_tag_id(self, cursor: Any, name: str, tag_id: int) -> None:
        table, t = self._t("wxs_tag_ids"), self._tags
        cursor.execute(self._sql(f"SELECT name FROM {table} WHERE tag_id = ?"), (tag_id,))
        row = cursor.fetchone()
        if row is not None and row[0] != name:
            # A rename on WeChat: the members keep the tag under its new name.
            old = row[0]
            self._log_changes(cursor, f"SELECT openid FROM {t} WHERE tag = ?", [old])
            cursor.execute(
                self._sql(
                    f"DELETE FROM {t} WHERE tag = ? AND openid IN "
                    f"(SELECT openid FROM {t} WHERE tag = ?)"
                ),
                (old, name),
            )
            cursor.execute(self._sql(f"UPDATE {t} SET tag = ? WHERE tag = ?"), (name, old))
        cursor.execute(
            self._sql(f"DELETE FROM {table} WHERE tag_id = ? OR name = ?"), (tag_id, name)
        )
        cursor.execute(
            self._sql(f"INSERT INTO {table} (tag_id, name) VALUES (?, ?)"), (tag_id, name)
        )

    def replace_tags(
        self, tag_ids: Mapping[int, str], members: Mapping[str, Iterable[str]]
    ) -> None:
        """Replace, in one transaction, the tag-id map and the members of every mapped tag.

        ``members`` maps tag names to openids; tags named by neither the old nor the new map
        (CRM tags WeChat does not know) are left alone.
        """
        fresh = {int(i): check_text(n, "tag name") for i, n in tag_ids.items()}
        groups = {check_text(n, "tag name"): openid_list(o) for n, o in members.items()}
        unmapped = sorted(set(groups) - set(fresh.values()))
        if unmapped:
            raise ValueError(f"members name tags without a tag id: {unmapped}")
        table, t = self._t("wxs_tag_ids"), self._tags
        with self._write() as cursor:
            cursor.execute(f"SELECT name FROM {table}")
            names = sorted({row[0] for row in cursor.fetchall()} | set(fresh.values()))
            cursor.execute(f"DELETE FROM {table}")
            cursor.executemany(
                self._sql(f"INSERT INTO {table} (tag_id, name) VALUES (?, ?)"),
                sorted(fresh.items()),
            )
            for chunk in chunks(names):
                marks = ", ".join("?" for _ in chunk)
                self._log_changes(
                    cursor,
                    f"SELECT DISTINCT openid FROM {t} WHERE tag IN ({marks})",
                    list(chunk),
                )
                cursor.execute(self._sql(f"DELETE FROM {t} WHERE tag IN ({marks})"), list(chunk))
            pairs = [(o, name) for name, openids in sorted(groups.items()) for o in openids]
            cursor.executemany(self._sql(f"INSERT INTO {t} (openid, tag) VALUES (?, ?)"), pairs)
            self._logopenid_list(cursor, sorted({o for o, _ in pairs}))

    def tags_of(self, openid: str) -> frozenset[str]:
        """The tag names recorded for ``openid`` (stored as a follower or not yet)."""
        with self._read() as cursor:
            cursor.execute(
                self._sql(f"SELECT tag FROM {self._tags} WHERE openid = ?"), (check_openid(openid),)
            )
            return frozenset(row[0] for row in cursor.fetchall())

    def forget_tag_id(self, tag_id: int) -> None:
        """Drop the mapping of a WeChat tag id (the tag was deleted on WeChat)."""
        with self._write() as cursor:
            cursor.execute(
                self._sql(f"DELETE FROM {self._t('wxs_tag_ids')} WHERE tag_id = ?"), (tag_id,)
            )

    def tag_ids(self) -> Mapping[int, str]:
        """Every known WeChat tag id and its name."""
        with self._read() as cursor:
            cursor.execute(f"SELECT tag_id, name FROM {self._t('wxs_tag_ids')} ORDER BY tag_id")
            return {int(i): str(n) for i, n in cursor.fetchall()}

    def next_openid(self) -> str | None:
        """The checkpoint of a resumable follower pull (``None``: start from the beginning)."""
        with self._read() as cursor:
            cursor.execute(
                self._sql(f"SELECT value FROM {self._t('wxs_meta')} WHERE key = ?"),
                (NEXT_OPENID_KEY,),
            )
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    def set_next_openid(self, value: str | None) -> None:
        """Record (or, with ``None``, clear) the checkpoint of a follower pull."""
        if value is not None:
            check_openid(value)
        table = self._t("wxs_meta")
        with self._write() as cursor:
            cursor.execute(self._sql(f"DELETE FROM {table} WHERE key = ?"), (NEXT_OPENID_KEY,))
            if value is not None:
                cursor.execute(
                    self._sql(f"INSERT INTO {table} (key, value) VALUES (?, ?)"),
                    (NEXT_OPENID_KEY, value),
                )

    # -- reads -----------------------------------------------------------------------------------

    def get(self, openid: str) -> Follower | None:
        """The stored follower, or ``None`` when unknown."""
        found = self._fetch([check_openid(openid)])
        return found.get(openid)

    def _fetch(self, openids: Sequence[str]) -> dict[str, Follower]:
        schema = self._schema
        rows: list[Any] = []
        tags: dict[str, set[str]] = {}
        attributes: dict[str, dict[str, AttributeValue]] = {}
        with self._read() as cursor:
            schema = self._stored_schema(cursor)
            typed = self._layout(schema).columns
            selected = "".join(f', "{c.column}"' for c in typed.values())
            for chunk in chunks(openids):
                marks = ", ".join("?" for _ in chunk)
                cursor.execute(
                    self._sql(
                        f"SELECT openid, subscribe_time, unionid, last_interaction_at{selected} "
                        f"FROM {self._followers} WHERE openid IN ({marks})"
                    ),
                    list(chunk),
                )
                rows.extend(cursor.fetchall())
                cursor.execute(
                    self._sql(f"SELECT openid, tag FROM {self._tags} WHERE openid IN ({marks})"),
                    list(chunk),
                )
                for openid, tag in cursor.fetchall():
                    tags.setdefault(openid, set()).add(tag)
                cursor.execute(
                    self._sql(
                        "SELECT openid, name, str_value, num_value, bool_value, time_value "
                        f"FROM {self._attributes} WHERE openid IN ({marks})"
                    ),
                    list(chunk),
                )
                for openid, name, s, n, b, t in cursor.fetchall():
                    attributes.setdefault(openid, {})[name] = decode_attribute(
                        schema, name, s, n, b, t
                    )
        kinds = [(name, schema.kinds[name]) for name in typed]
        found = {}
        for openid, subscribed, unionid, seen, *values in rows:
            own = attributes.setdefault(openid, {})
            for (name, kind), value in zip(kinds, values, strict=True):
                if value is not None:
                    own[name] = decode_column(value, kind)
            found[openid] = Follower(
                openid,
                from_micros(subscribed),
                tags=frozenset(tags.get(openid, ())),
                attributes=own,
                unionid=unionid,
                last_interaction_at=None if seen is None else from_micros(seen),
            )
        return found

    def __len__(self) -> int:
        with self._read() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self._followers}")
            return int(cursor.fetchone()[0])

    def openids(self) -> list[str]:
        """Every stored openid, sorted."""
        with self._read() as cursor:
            cursor.execute(f"SELECT openid FROM {self._followers}")
            return sorted(row[0] for row in cursor.fetchall())

    def _compiled(self, segment: Segment, now: datetime) -> tuple[str, list[Any]]:
        ensure_aware(now, "now")
        self.schema.check_segment(segment)
        return to_sql(segment, dialect=self._dialect, schema=self.layout, now=now)

    def select(self, segment: Segment, *, now: datetime) -> list[str]:
        """The openids ``segment`` matches at ``now``, sorted; checked against the schema first."""
        sql, params = self._compiled(segment, now)
        with self._read() as cursor:
            cursor.execute(sql, params)
            return sorted(row[0] for row in cursor.fetchall())

    def count(self, segment: Segment, *, now: datetime) -> int:
        """How many followers ``segment`` matches at ``now``, counted by the database."""
        sql, params = self._compiled(segment, now)
        with self._read() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS q", params)
            return int(cursor.fetchone()[0])

    def explain(self, segment: Segment, *, now: datetime) -> Explanation:
        """Counts of ``segment`` and of every sub-expression, each counted by the database."""
        self._compiled(segment, now)
        counts: dict[Segment, int] = {}
        with self._read() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self._followers}")
            total = int(cursor.fetchone()[0])

            def build(node: Segment) -> Explanation:
                if node not in counts:
                    sql, params = to_sql(node, dialect=self._dialect, schema=self.layout, now=now)
                    cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS q", params)
                    counts[node] = int(cursor.fetchone()[0])
                children: tuple[Segment, ...] = ()
                if isinstance(node, (And, Or)):
                    children = tuple(sorted(node.children, key=render))
                elif isinstance(node, Not):
                    children = (node.child,)
                return Explanation(node, counts[node], total, tuple(build(c) for c in children))

            return build(segment)

    # -- the change feed and the index -----------------------------------------------------------

    def version(self) -> int:
        """The change feed's position: it grows with every write that changes a follower."""
        with self._read() as cursor:
            cursor.execute(f"SELECT MAX(seq) FROM {self._t('wxs_changes')}")
            value = cursor.fetchone()[0]
            if value is None:
                # An empty feed after a trim sits at the trimmed position, not at 0.
                value = self._trimmed(cursor) or 0
        return int(value)

    def _trimmed(self, cursor: Any) -> int | None:
        """The position `trim_changes` last dropped entries up to (None if it never ran)."""
        cursor.execute(
            self._sql(f"SELECT value FROM {self._t('wxs_meta')} WHERE key = ?"), (TRIMMED_KEY,)
        )
        row = cursor.fetchone()
        return None if row is None else int(row[0])

    def changes(self, since: int) -> tuple[int, frozenset[str]]:
        """The feed's position now and the openids written after position ``since``.

        Raises `StaleVersionError` when `trim_changes` removed entries after ``since``.
        """
        with self._read() as cursor:
            trimmed = self._trimmed(cursor)
            if trimmed is not None and since < trimmed:
                raise StaleVersionError(
                    f"the change feed was trimmed up to {trimmed}; position {since} is gone"
                )
            cursor.execute(
                self._sql(f"SELECT seq, openid FROM {self._t('wxs_changes')} WHERE seq > ?"),
                (since,),
            )
            rows = cursor.fetchall()
        top = max((int(seq) for seq, _ in rows), default=since)
        return top, frozenset(openid for _, openid in rows)

    def trim_changes(self, upto: int) -> None:
        """Drop feed entries up to position ``upto``; readers behind it must rebuild."""
        if isinstance(upto, bool) or not isinstance(upto, int):
            raise TypeError(f"upto must be an int, got {type(upto).__name__}")
        table, meta = self._t("wxs_changes"), self._t("wxs_meta")
        with self._write() as cursor:
            trimmed = self._trimmed(cursor)
            if trimmed is not None and trimmed >= upto:
                return
            cursor.execute(self._sql(f"DELETE FROM {table} WHERE seq <= ?"), (upto,))
            cursor.execute(self._sql(f"DELETE FROM {meta} WHERE key = ?"), (TRIMMED_KEY,))
            cursor.execute(
                self._sql(f"INSERT INTO {meta} (key, value) VALUES (?, ?)"),
                (TRIMMED_KEY, str(upto)),
            )

    def followers(self, openids: Iterable[str]) -> dict[str, Follower]:
        """The stored followers among ``openids``, by openid (unknown ones are left out)."""
        return self._fetch(openid_list(openids))

    def index(self) -> Any:
        """A `SegmentIndex` of every stored follower, built from columns read in bulk."""
        from wxsegment.followers._columnar import build_index

        with self._read() as cursor:
            schema = self._schema = self._stored_schema(cursor)
            return build_index(self, cursor, schema)


def _position(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"unless_changed_since must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"unless_changed_since must be >= 0, got {value}")
    return value
