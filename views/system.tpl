% rebase('layout.tpl', title='System')
<div id="warnings"></div>
<section class="cards" id="system-cards" data-status="/api/system/status">
  <p class="empty">Loading…</p>
</section>
<section>
  <h2>Disk space</h2>
  <div id="disks" class="disks"></div>
</section>
