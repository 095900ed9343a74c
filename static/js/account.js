// placeholder of the skeleton commit: replaced by its feature (issue 10) before this lands
export function init() {}
