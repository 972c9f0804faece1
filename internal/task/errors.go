package task

import (
	"errors"
	"fmt"
)

// Error kinds that survive the trip to HTTP. httpapi maps each to a status.
var (
	// ErrNotFound: no task with that id.
	ErrNotFound = errors.New("task not found")
	// ErrProcessing: the task is being processed and cannot be deleted.
	ErrProcessing = errors.New("task is processing")
	// ErrTransition: a state change that the lifecycle does not allow.
	ErrTransition = errors.New("task state transition not allowed")
	// ErrFinished: the task is already ready or failed and cannot be canceled.
	ErrFinished = errors.New("task is already finished")
)

// ValidationError is a request the server refuses: the client must change it.
// Status is 400, or 422 for JSON schema keywords that are not supported.
type ValidationError struct {
	Status  int
	Code    string // parameter_invalid, parameter_not_provided, parameter_unknown, ...
	Param   string // dotted path of the offending field, when there is one
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

// Invalid returns a 400 parameter_invalid error about param.
func Invalid(param, format string, args ...any) *ValidationError {
	return &ValidationError{Status: 400, Code: "parameter_invalid", Param: param, Message: fmt.Sprintf(format, args...)}
}

// Missing returns a 400 parameter_not_provided error about param.
func Missing(param string) *ValidationError {
	return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: param,
		Message: fmt.Sprintf("The %s parameter is required but was not provided.", param)}
}

// Unknown returns a 400 parameter_unknown error about param.
func Unknown(param string) *ValidationError {
	return &ValidationError{Status: 400, Code: "parameter_unknown", Param: param,
		Message: fmt.Sprintf("The %s parameter is not recognized. Remove it and try again.", param)}
}

// Unsupported returns a 422 error for a JSON schema keyword the server does not support.
func Unsupported(param, format string, args ...any) *ValidationError {
	return &ValidationError{Status: 422, Code: "json_schema_unsupported", Param: param, Message: fmt.Sprintf(format, args...)}
}

// VideoError is a video that fails the input requirements (V47–V51). Rule
// names the requirement; Message names the measured value.
type VideoError struct {
	Rule    string
	Message string
}

func (e *VideoError) Error() string { return e.Message }
