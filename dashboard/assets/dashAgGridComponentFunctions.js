// Cell renderers for dash-ag-grid: a customer id links to the customer's page.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
  window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.CustomerLink = function (props) {
  if (props.value === null || props.value === undefined) {
    return null;
  }
  return React.createElement(
    "a",
    { href: "/customer?id=" + encodeURIComponent(props.value) },
    String(props.value)
  );
};
