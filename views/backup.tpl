% rebase('layout.tpl', title='Backup')
<section class="card">
  <h2>Create a backup</h2>
  <form data-api="POST /api/backup/create" data-then="reload" class="row" novalidate>
    <label>Name (optional) <input name="name" placeholder="before-the-move" pattern="[A-Za-z0-9][A-Za-z0-9._-]*"></label>
    <label class="check"><input type="checkbox" name="include_artwork" data-type="bool" checked> Include artwork</label>
    <p class="field-error" data-error-for="name"></p>
    <div class="buttons"><button type="submit" class="primary">Create backup</button></div>
  </form>
  <p class="muted">A backup is a copy of the event log: every stream, schedule and trusted host, and the history.
  One is made automatically every night.</p>
</section>
<section>
  <h2>Backups</h2>
  <p class="actions"><label class="upload">Upload a backup <input type="file" accept=".gz,application/gzip" data-upload-backup="/api/backup/upload"></label></p>
  <div id="backups" data-backups="/api/backup/list"><p class="empty">Loading…</p></div>
</section>
