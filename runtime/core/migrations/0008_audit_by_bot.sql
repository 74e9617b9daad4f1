-- The trail's bot index cost every audited call a page write (one b-tree more per record in
-- every commit) for a filter that `audit list --bot` applies like `--tool`, `--decision` and
-- `--kind`, which never had one: newest first by `seq` (with `--limit`), or a scan.
DROP INDEX audit_by_bot;
