/* The admin calendar: event-calendar with a lane per resource; clicking an empty time opens the booking
   dialog, dropping a booking asks the server to move it and puts it back when refused.
   The calendar runs in "UTC" mode and every time exchanged with the server is the branch's wall clock
   without an offset: the server alone knows the branch's time zone. */
(function () {
  'use strict';
  var root = document.getElementById('calendar');
  if (!root || typeof EventCalendar === 'undefined') { return; }
  var config = JSON.parse(root.dataset.config);
  var live = document.getElementById('calendar-status');
  var dialog = document.getElementById('create-booking');

  function csrfToken() {
    return JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRF-Token'] || '';
  }

  function say(text, refused) {
    live.textContent = text;
    live.classList.toggle('problem', Boolean(refused));
  }

  function two(n) { return (n < 10 ? '0' : '') + n; }

  // event-calendar hands callbacks Dates whose local fields are the wall clock it shows.
  function wall(d) {
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + 'T' + two(d.getHours()) + ':' + two(d.getMinutes());
  }

  // From a click on an empty time (its time and lane filled in), or from the button (for the keyboard).
  function openCreate(info) {
    if (!dialog) { return; }
    var form = dialog.querySelector('form');
    form.elements.starts_at.value = info ? wall(info.date) : '';
    form.elements.resource_id.value = info && info.resource ? String(info.resource.id) : '';
    dialog.showModal();
    form.elements.service_id.focus();
  }

  function move(info) {
    var body = {
      booking_id: info.event.id,
      starts_at: wall(info.event.start),
      from_resource_id: info.oldResource ? String(info.oldResource.id) : null,
      to_resource_id: info.newResource ? String(info.newResource.id) : null
    };
    fetch('/admin/calendar/move', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken(), 'Accept-Language': document.documentElement.lang},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (said) {
        var message = (said && (said.message || said.detail)) || String(response.status);
        if (!response.ok) { info.revert(); }
        say(message, !response.ok);
        calendar.refetchEvents();
      });
    }).catch(function () {
      info.revert();
      say(config.texts.offline, true);
    });
  }

  // event-calendar marks its grid as an ARIA table whose row groups hold more than rows (axe: critical
  // aria-required-children); the grid is read through its column heads' text and the events' own buttons,
  // so its table roles are dropped, also from the parts it draws later.
  var TABLE_ROLES = ['table', 'rowgroup', 'row', 'columnheader', 'rowheader', 'cell', 'gridcell'];
  var TABLE_ATTRIBUTES = ['aria-colindex', 'aria-colspan', 'aria-rowindex', 'aria-rowspan', 'aria-colcount', 'aria-rowcount'];
  function dropTableRoles() {
    [root].concat(Array.prototype.slice.call(root.querySelectorAll('[role]'))).forEach(function (node) {
      if (TABLE_ROLES.indexOf(node.getAttribute('role')) >= 0) { node.removeAttribute('role'); }
    });
    TABLE_ATTRIBUTES.forEach(function (name) {  // meaningless without the table
      Array.prototype.forEach.call(root.querySelectorAll('[' + name + ']'), function (node) { node.removeAttribute(name); });
    });
  }
  new MutationObserver(dropTableRoles).observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['role'].concat(TABLE_ATTRIBUTES)});

  var calendar = EventCalendar.create(root, {
    view: config.view,
    date: config.date,
    timeZone: 'UTC',
    locale: config.locale,
    resources: config.resources,
    eventSources: [{url: '/admin/calendar/events', extraParams: {branch_id: config.branch}}],
    headerToolbar: {start: 'prev,next today', center: 'title', end: 'resourceTimeGridDay,resourceTimeGridWeek'},
    buttonText: config.buttons,
    allDaySlot: false,
    slotMinTime: '07:00',
    slotMaxTime: '22:00',
    scrollTime: '09:00',
    editable: config.editable,
    eventDurationEditable: false,
    loading: function (isLoading) { root.setAttribute('aria-busy', isLoading ? 'true' : 'false'); },
    dateClick: config.editable ? openCreate : undefined,
    eventDrop: move,
    eventClick: function (info) {
      var url = info.event.extendedProps && info.event.extendedProps.url;
      if (url) { window.location.assign(url); }
    }
  });

  dropTableRoles();

  if (dialog) {
    dialog.querySelector('[data-close]').addEventListener('click', function () { dialog.close(); });
    document.querySelector('[data-open-create]').addEventListener('click', function () { openCreate(null); });
    document.body.addEventListener('booking-created', function (event) {
      dialog.close();
      say(event.detail && event.detail.message ? event.detail.message : '', false);
      calendar.refetchEvents();
    });
  }
}());
