package chroma

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTenants(t *testing.T) {
	c := newClient(t, Options{})
	c.ok(200, "POST", "/api/v2/tenants", `{"name":"acme"}`, nil)
	_, b := c.do("GET", "/api/v2/tenants/acme", nil)
	jsonEq(t, `{"name":"acme","resource_name":null}`, b)
	c.fails(409, "ChromaError", "Tenant [acme] already exists", "POST", "/api/v2/tenants", `{"name":"acme"}`)
	c.fails(400, "InvalidArgumentError", "at least 3", "POST", "/api/v2/tenants", `{"name":"ab"}`)
	c.fails(422, "ChromaError", "missing field `name`", "POST", "/api/v2/tenants", `{}`)
	c.fails(404, "NotFoundError", "Tenant [nope] not found", "GET", "/api/v2/tenants/nope", nil)
	c.fails(404, "NotFoundError", "Tenant [nope] not found", "PATCH", "/api/v2/tenants/nope", `{"resource_name":"x"}`)
}

func TestDatabases(t *testing.T) {
	c := newClient(t, Options{})
	dbs := "/api/v2/tenants/default_tenant/databases"
	c.ok(200, "POST", dbs, `{"name":"second"}`, nil)
	c.fails(409, "ChromaError", "Database [second] already exists", "POST", dbs, `{"name":"second"}`)
	c.fails(400, "InvalidArgumentError", "database name must be at least 3 characters", "POST", dbs, `{"name":"xy"}`)
	c.fails(404, "NotFoundError", "Tenant [nope]", "POST", "/api/v2/tenants/nope/databases", `{"name":"abc"}`)

	var got struct{ ID, Name, Tenant string }
	c.ok(200, "GET", dbs+"/second", nil, &got)
	require.Equal(t, "second", got.Name)
	require.Equal(t, "default_tenant", got.Tenant)
	require.Len(t, got.ID, 36)

	var list []struct{ Name string }
	c.ok(200, "GET", dbs+"?limit=100&offset=0", nil, &list)
	require.Equal(t, []struct{ Name string }{{"default_database"}, {"second"}}, list)
	c.ok(200, "GET", dbs+"?limit=1&offset=1", nil, &list)
	require.Equal(t, []struct{ Name string }{{"second"}}, list)
	_, b := c.do("GET", dbs+"?limit=0", nil)
	jsonEq(t, `[]`, b)
	c.fails(400, "InvalidArgumentError", "limit", "GET", dbs+"?limit=-1", nil)
	c.fails(404, "NotFoundError", "Tenant [nope]", "GET", "/api/v2/tenants/nope/databases", nil)

	// A collection in the database goes with it.
	c.ok(200, "POST", dbs+"/second/collections", `{"name":"inside"}`, nil)
	c.ok(200, "DELETE", dbs+"/second", nil, nil)
	c.fails(404, "NotFoundError", "Database [second] not found", "GET", dbs+"/second", nil)
	c.fails(404, "NotFoundError", "Database [second] not found", "DELETE", dbs+"/second", nil)
	c.fails(404, "NotFoundError", "", "GET", dbs+"/second/collections/inside", nil)
	c.fails(400, "InvalidArgumentError", "at least 3 characters", "GET", dbs+"/xy", nil)
}
