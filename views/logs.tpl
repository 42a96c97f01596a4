% rebase('layout.tpl', title='Logs')
<form class="filters" id="log-filters">
  <label>File <select name="file">
    <option>audio_recorder.log</option><option>system.log</option><option>error.log</option>
  </select></label>
  <label>Level <select name="level">
    <option>DEBUG</option><option selected>INFO</option><option>WARNING</option><option>ERROR</option>
  </select></label>
  <label class="check"><input type="checkbox" name="follow" checked> Follow live</label>
</form>
<div id="log" class="log" data-logs aria-live="polite"><p class="empty">Loading…</p></div>
