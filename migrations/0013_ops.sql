-- Directory sync (SPEC §7, issue 15): a directory may require its people to be in at least one
-- mapped group; removal from every mapped group then suspends the membership like `active: false`.
-- It needs at least one mapping (else it would suspend everyone).
ALTER TABLE scim_directories ADD COLUMN require_mapped_group boolean NOT NULL DEFAULT false;
ALTER TABLE scim_directories ADD CONSTRAINT scim_directories_require_needs_mapping
    CHECK (NOT require_mapped_group OR group_role_mappings <> '{}'::jsonb);
