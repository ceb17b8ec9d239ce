import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../../bin/relayctl/cli-error.ts';
import { readMysqlDump } from '../../bin/relayctl/mysql-dump.ts';

// In-process: the corners of mysqldump's SQL that relayctl-import.test.ts's
// real dumps may not reach (escapes, NULL, introducers, odd spacing).

test('reads every escape mysqldump writes, both quote styles, NULL, numbers and charset introducers', () => {
  const dump = [
    '/*M!999999\\- enable the sandbox mode */ ',
    '-- a comment; with a semicolon',
    '# another comment',
    'CREATE TABLE IF NOT EXISTS `t` (',
    '  `id` int(11) NOT NULL,',
    '  `text` varchar(100) DEFAULT NULL,',
    '  `key` varchar(10),',
    '  PRIMARY KEY (`id`),',
    '  KEY `text` (`text`),',
    '  CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `other` (`id`)',
    ') ENGINE=InnoDB;',
    "INSERT INTO `t` VALUES (1,'it\\'s a \\\"test\\\" with \\\\ and \\n and \\r\\t and \\0 and \\Z','a;b'),(-2,NULL,'it''s'),",
    "(3,_utf8mb4'intro',\"double \\\"quoted\\\"\"),(4, 'multi",
    "line' , 0x6869);",
    'INSERT INTO `ignored` VALUES (1);',
    "INSERT IGNORE INTO `t` (`key`, `id`) VALUES ('k',5);",
    "REPLACE INTO `t` VALUES (6,'x','y');",
  ].join('\n');
  const rows = readMysqlDump(dump, ['t', 'absent'], 'dump.sql').get('t');
  assert.deepEqual(rows, [
    { id: '1', text: 'it\'s a "test" with \\ and \n and \r\t and \0 and \x1a', key: 'a;b' },
    { id: '-2', text: null, key: "it's" },
    { id: '3', text: 'intro', key: 'double "quoted"' },
    { id: '4', text: 'multi\nline', key: 'hi' },
    { key: 'k', id: '5' },
    { id: '6', text: 'x', key: 'y' },
  ]);
  assert.equal(readMysqlDump(dump, ['absent'], 'dump.sql').has('absent'), false, 'a table the dump does not hold is absent');
});

test('says where a dump it cannot read goes wrong', () => {
  const failure = (dump: string) => {
    try {
      readMysqlDump(dump, ['t'], 'dump.sql');
    } catch (error) {
      assert.ok(error instanceof CliError);
      assert.equal(error.exitCode, 1);
      return error.message;
    }
    assert.fail('expected a refusal');
  };
  assert.equal(failure("INSERT INTO `t` VALUES (1,'a');"), 'dump.sql, line 1: INSERT into t before its CREATE TABLE and without a column list');
  assert.equal(failure("CREATE TABLE `t` (`a` int);\n\nINSERT INTO `t` VALUES (1,2);"), 'dump.sql, line 3: a row of t has 2 values for 1 columns');
  assert.equal(failure("CREATE TABLE `t` (`a` int);\nINSERT INTO `t` VALUES ('never closed);"), 'dump.sql, line 2: unterminated string');
  assert.equal(failure('CREATE TABLE `t` (`a` int);\nINSERT INTO `t` VALUES (NOW());'), 'dump.sql, line 2: unsupported value NOW in a row of t');
  assert.equal(failure('CREATE TABLE `t` (`a` int);\nINSERT INTO `t` SELECT 1;'), 'dump.sql, line 2: only INSERT ... VALUES is supported (table t)');
});
