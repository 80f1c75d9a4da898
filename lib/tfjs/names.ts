/** The backend's registered name. */
export const BACKEND_NAME_CONST = 'senet';
